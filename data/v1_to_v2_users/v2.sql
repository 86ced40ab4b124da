-- v1_to_v2_users, the V2 database: the target of
-- pipelines/v1_to_v2_users.toml. One central users table (unique email),
-- user_roles against the roles reference table the V2 setup creates, and
-- the student -> parent links between users.
--
--   psql "$V2_DB_URL" -f data/v1_to_v2_users/v2.sql

CREATE TABLE roles (
    id   integer PRIMARY KEY,
    name text NOT NULL UNIQUE
);
INSERT INTO roles VALUES (1, 'teacher'), (2, 'parent'), (3, 'student');

CREATE TABLE users (
    id            bigint PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    first_name    text,
    middle_name   text,
    last_name     text,
    phone         text,
    password_hash text NOT NULL,
    v1_table      text NOT NULL,
    v1_id         integer NOT NULL
);
CREATE TABLE user_roles (
    user_id   bigint NOT NULL REFERENCES users (id),
    role_id   integer NOT NULL REFERENCES roles (id),
    school_id integer,
    PRIMARY KEY (user_id, role_id)
);
CREATE TABLE student_parents (
    student_user_id bigint NOT NULL REFERENCES users (id),
    parent_user_id  bigint NOT NULL REFERENCES users (id),
    PRIMARY KEY (student_user_id, parent_user_id)
);
