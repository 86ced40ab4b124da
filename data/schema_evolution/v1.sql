-- schema_evolution, version 1: the shop's PostgreSQL schema as it is today
-- (the source of pipelines/schema_evolution.toml). Deterministic: a few
-- hand-written rows with awkward values, then generate_series for volume.
--
--   psql "$FROM_URL" -f data/schema_evolution/v1.sql

CREATE TABLE users (
    id           integer PRIMARY KEY,
    user_name    varchar(30) NOT NULL,      -- v2: username
    email        varchar(50),               -- v2: varchar(255)
    status       varchar(10) NOT NULL,      -- v2: status_id (1 active, 2 inactive, 3 pending)
    legacy_field text                       -- v2: dropped
);

CREATE TABLE products (
    id            integer PRIMARY KEY,
    name          varchar(60) NOT NULL,
    category_name varchar(30),              -- v2: category_id, looked up in v2's categories
    price         numeric(8,2) NOT NULL     -- v2: numeric(12,2)
);

CREATE TABLE orders (
    id         integer PRIMARY KEY,
    user_id    integer NOT NULL REFERENCES users (id),
    product_id integer NOT NULL REFERENCES products (id),
    qty        smallint NOT NULL,           -- v2: quantity integer
    ordered_at timestamp NOT NULL
);

INSERT INTO users VALUES
    (1, 'ada', 'ada@example.com', 'ACTIVE', 'imported 2019'),
    (2, 'José Ñúñez', NULL, 'INACTIVE', NULL),
    (3, 'o''brien', 'o''brien@example.com', 'PENDING', ''),
    (4, E'tab\tand\\backslash', 'x@example.com', 'ACTIVE', E'a\nmulti-line note'),
    (5, repeat('z', 30), repeat('e', 38) || '@example.com', 'ACTIVE', NULL);
INSERT INTO users
SELECT g,
       'user' || g,
       CASE WHEN g % 17 = 0 THEN NULL ELSE 'user' || g || '@example.com' END,
       (ARRAY['ACTIVE', 'ACTIVE', 'INACTIVE', 'PENDING'])[g % 4 + 1],
       CASE WHEN g % 3 = 0 THEN 'legacy ' || g END
FROM generate_series(6, 600) g;

INSERT INTO products VALUES
    (1, 'Atlas of Everything', 'Books', 999999.99),
    (2, 'Rake', 'Garden', 0.01),
    (3, 'Whisk', 'Kitchen', 12.50),
    (4, 'Kite', 'Toys', 20.00),
    (5, 'Mystery box', NULL, 5.00),             -- no category: Uncategorized
    (6, 'Fax machine', 'Obsolete', 150.00);     -- not in v2: Uncategorized
INSERT INTO products
SELECT g,
       'Product ' || g,
       (ARRAY['Books', 'Garden', 'Kitchen', 'Toys'])[g % 4 + 1],
       round((g * 7.31)::numeric % 500, 2) + 0.99
FROM generate_series(7, 80) g;

INSERT INTO orders
SELECT g,
       g % 600 + 1,
       g % 80 + 1,
       (g % 9 + 1)::smallint,
       timestamp '2024-01-01 08:00:00' + g * interval '37 minutes 11 seconds'
FROM generate_series(1, 3000) g;
