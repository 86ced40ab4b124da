-- v1_to_v2_users, the V1 school database: the source of
-- pipelines/v1_to_v2_users.toml. Teachers, parents and students each have
-- their own table with their own login (email, phone, full name). Some
-- people are in two tables with the same email (a teacher who is also a
-- parent), some emails differ only in case, names come with titles,
-- suffixes and "Last, First", phones in every format, and some students
-- have no email.
--
--   psql "$V1_DB_URL" -f data/v1_to_v2_users/v1.sql

CREATE TABLE schools (
    id   integer PRIMARY KEY,
    name text NOT NULL
);
CREATE TABLE teachers (
    id        integer PRIMARY KEY,
    school_id integer NOT NULL REFERENCES schools (id),
    full_name text NOT NULL,
    email     text NOT NULL,
    phone     text
);
CREATE TABLE parents (
    id        integer PRIMARY KEY,
    full_name text NOT NULL,
    email     text NOT NULL,
    phone     text
);
CREATE TABLE students (
    id        integer PRIMARY KEY,
    school_id integer NOT NULL REFERENCES schools (id),
    parent_id integer REFERENCES parents (id),
    full_name text NOT NULL,
    email     text
);

INSERT INTO schools VALUES (1, 'North High'), (2, 'South Elementary');

-- The awkward ones by hand (the test spells out what each must become).
INSERT INTO teachers VALUES
    (1, 1, 'Dr. Ada Lovelace', 'ada@school.example', '(212) 736-5000'),
    (2, 1, 'Lee, Grace Brewster', 'Grace@School.example', '212.736.5001'),
    (3, 2, 'Martin Luther King Jr.', 'mlk@school.example', '+1 212 736 5002'),
    (4, 2, 'Ludwig van Beethoven', 'ludwig@school.example', 'not a phone');
INSERT INTO parents VALUES
    (1, 'Ada Lovelace', 'ADA@school.example', '212-736-5003'),      -- the teacher's email again
    (2, 'Grace Lee', 'grace@school.example', NULL),                 -- and again, other case
    (3, 'Cher', 'cher@family.example', '2127365004');
INSERT INTO students VALUES
    (1, 1, 1, 'Byron Lovelace', 'ada@school.example'),              -- a third ada@
    (2, 2, 3, 'Chastity Bono', NULL),
    (3, 1, NULL, 'Mary Ann Evans', NULL);

-- Volume: plain "First Last" names and (212) 555-01xx-style phones.
INSERT INTO teachers
SELECT g, g % 2 + 1, 'Teacher' || g || ' Smith', 'teacher' || g || '@school.example',
       '(646) 555-' || lpad(g::text, 4, '0')
FROM generate_series(10, 39) g;
INSERT INTO parents
SELECT g, 'Parent' || g || ' Jones',
       CASE WHEN g % 10 = 0 THEN 'teacher' || (g / 10 + 10) || '@school.example'  -- also a teacher
            ELSE 'parent' || g || '@family.example' END,
       CASE WHEN g % 3 = 0 THEN NULL ELSE '646-555-' || lpad((1000 + g)::text, 4, '0') END
FROM generate_series(10, 69) g;
INSERT INTO students
SELECT g, g % 2 + 1, g % 60 + 10, 'Student' || g || ' Jones',
       CASE WHEN g % 4 = 0 THEN NULL ELSE 'student' || g || '@school.example' END
FROM generate_series(10, 99) g;
