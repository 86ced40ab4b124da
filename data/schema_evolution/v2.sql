-- schema_evolution, version 2: the schema the application moves to (the
-- target of pipelines/schema_evolution.toml), created empty except for its
-- reference table of categories, which the application owns.
--
--   psql "$TO_URL" -f data/schema_evolution/v2.sql

CREATE TABLE categories (
    id   integer PRIMARY KEY,
    name varchar(30) NOT NULL UNIQUE
);
INSERT INTO categories VALUES
    (10, 'Books'), (20, 'Garden'), (30, 'Kitchen'), (40, 'Toys'), (99, 'Uncategorized');

CREATE TABLE users (
    id         bigint PRIMARY KEY,              -- widened from integer
    username   varchar(30) NOT NULL,            -- renamed from user_name
    email      varchar(255),                    -- widened from varchar(50)
    status_id  smallint NOT NULL,               -- was the text status
    created_at timestamp NOT NULL               -- new, NOT NULL, no default
                                                -- legacy_field is gone
);

CREATE TABLE products (
    id          bigint PRIMARY KEY,
    name        varchar(60) NOT NULL,
    category_id integer NOT NULL REFERENCES categories (id),
    price       numeric(12,2) NOT NULL
);

CREATE TABLE orders (
    id         bigint PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    product_id bigint NOT NULL REFERENCES products (id),
    quantity   integer NOT NULL,                -- renamed from qty and widened
    ordered_at timestamp NOT NULL
);
