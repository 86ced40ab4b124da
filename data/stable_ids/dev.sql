-- stable_ids, the dev environment: the source of pipelines/stable_ids.toml.
-- Keys as the development system issued them: text ids for contacts and
-- properties, integers for projects and quotes, a composite key for quote
-- items. Every table references the ones before it (five dependency levels).
--
--   psql "$DEV_DB_URL" -f data/stable_ids/dev.sql

CREATE TABLE contacts (
    id    text PRIMARY KEY,
    name  text NOT NULL,
    email text
);
CREATE TABLE properties (
    id      text PRIMARY KEY,
    address text NOT NULL,
    city    text
);
CREATE TABLE requests (
    id                   integer PRIMARY KEY,
    agent_contact_id     text NOT NULL REFERENCES contacts (id),
    homeowner_contact_id text REFERENCES contacts (id),
    property_id          text REFERENCES properties (id),
    message              text
);
CREATE TABLE projects (
    id                    integer PRIMARY KEY,
    request_id            integer REFERENCES requests (id),
    agent_contact_id      text NOT NULL REFERENCES contacts (id),
    homeowner_contact_id  text NOT NULL REFERENCES contacts (id),
    homeowner2_contact_id text REFERENCES contacts (id),
    property_id           text NOT NULL REFERENCES properties (id),
    title                 text NOT NULL
);
CREATE TABLE quotes (
    id               integer PRIMARY KEY,
    project_id       integer NOT NULL REFERENCES projects (id),
    agent_contact_id text NOT NULL REFERENCES contacts (id),
    amount           numeric(12,2) NOT NULL
);
CREATE TABLE quote_items (
    quote_id    integer NOT NULL REFERENCES quotes (id),
    line_no     integer NOT NULL,
    project_id  integer NOT NULL REFERENCES projects (id),
    description text NOT NULL,
    qty         integer NOT NULL,
    PRIMARY KEY (quote_id, line_no)
);

INSERT INTO contacts
SELECT 'c-' || md5('contact' || g)::varchar(8) || '-' || g,
       (ARRAY['Ann Lee', 'Bo Chen', 'Zoë Ødegård', 'Sam O''Neil'])[g % 4 + 1] || ' ' || g,
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'contact' || g || '@example.com' END
FROM generate_series(1, 120) g;
INSERT INTO properties
SELECT 'p-' || md5('property' || g)::varchar(8) || '-' || g,
       g || ' Main St',
       (ARRAY['Irvine', 'San Diego', NULL])[g % 3 + 1]
FROM generate_series(1, 60) g;

-- The ids below pick contacts and properties by their number g.
CREATE TEMP TABLE c AS SELECT row_number() OVER (ORDER BY split_part(id, '-', 3)::int) AS n, id FROM contacts;
CREATE TEMP TABLE p AS SELECT row_number() OVER (ORDER BY split_part(id, '-', 3)::int) AS n, id FROM properties;

INSERT INTO requests
SELECT g, (SELECT id FROM c WHERE n = g % 120 + 1),
       CASE WHEN g % 4 = 0 THEN NULL ELSE (SELECT id FROM c WHERE n = (g * 7) % 120 + 1) END,
       (SELECT id FROM p WHERE n = g % 60 + 1),
       'request ' || g
FROM generate_series(1, 80) g;
INSERT INTO projects
SELECT 100 + g,
       CASE WHEN g % 3 = 0 THEN NULL ELSE g END,
       (SELECT id FROM c WHERE n = g % 120 + 1),
       (SELECT id FROM c WHERE n = (g * 11) % 120 + 1),
       CASE WHEN g % 2 = 0 THEN (SELECT id FROM c WHERE n = (g * 13) % 120 + 1) END,
       (SELECT id FROM p WHERE n = (g * 5) % 60 + 1),
       'Project ' || g
FROM generate_series(1, 70) g;
INSERT INTO quotes
SELECT 1000 + g, 100 + g % 70 + 1, (SELECT id FROM c WHERE n = (g * 3) % 120 + 1),
       round((g * 123.45)::numeric % 90000, 2)
FROM generate_series(1, 150) g;
INSERT INTO quote_items
SELECT q.id, l, q.project_id, 'item ' || l || ' of ' || q.id, l * 2
FROM quotes q CROSS JOIN generate_series(1, 3) l
WHERE l <= q.id % 3 + 1;
