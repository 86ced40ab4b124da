-- customer_subset: a multi-tenant MariaDB database shaped like STARFOX, the
-- source of pipelines/customer_subset.toml. 20 customers, each with users,
-- roles, accounts, orders and order lines; two seed users (ids 1 and 2,
-- administrators that belong to no customer); reference tables; an audit log
-- and an import scratch table that a customer move must leave behind.
-- Deterministic (MariaDB's Sequence engine makes the bulk rows).
--
--   mariadb starfox < data/customer_subset/starfox.sql

-- Reference tables: no path to a customer, copied whole.
CREATE TABLE country (
    id int PRIMARY KEY,
    code char(2) NOT NULL,
    name varchar(60) NOT NULL
);
CREATE TABLE currency (
    code char(3) PRIMARY KEY,
    name varchar(40) NOT NULL
);
CREATE TABLE access_right (
    id int PRIMARY KEY,
    name varchar(40) NOT NULL
);
CREATE TABLE schema_version (
    version int PRIMARY KEY,
    applied_at datetime NOT NULL,
    description varchar(100)
);

-- Customer data: reached from customer (or the seed users) through foreign keys.
CREATE TABLE customer (
    id int PRIMARY KEY,
    name varchar(60) NOT NULL,
    country_id int NOT NULL,
    currency_code char(3) NOT NULL,
    FOREIGN KEY (country_id) REFERENCES country (id),
    FOREIGN KEY (currency_code) REFERENCES currency (code)
);
CREATE TABLE users (
    id int PRIMARY KEY,
    customer_id int NULL,                  -- NULL: a seed (administrator) user
    email varchar(100) NOT NULL,
    full_name varchar(100),
    FOREIGN KEY (customer_id) REFERENCES customer (id)
);
CREATE TABLE user_preferences (
    user_id int PRIMARY KEY,
    theme varchar(20) NOT NULL,
    language char(2),
    FOREIGN KEY (user_id) REFERENCES users (id)
);
CREATE TABLE role (
    id int PRIMARY KEY,
    customer_id int NOT NULL,
    name varchar(40) NOT NULL,
    FOREIGN KEY (customer_id) REFERENCES customer (id)
);
CREATE TABLE role_access_map (              -- reaches customer only through role
    role_id int NOT NULL,
    access_right_id int NOT NULL,
    PRIMARY KEY (role_id, access_right_id),
    FOREIGN KEY (role_id) REFERENCES role (id),
    FOREIGN KEY (access_right_id) REFERENCES access_right (id)
);
CREATE TABLE role_user (
    role_id int NOT NULL,
    user_id int NOT NULL,
    PRIMARY KEY (role_id, user_id),
    FOREIGN KEY (role_id) REFERENCES role (id),
    FOREIGN KEY (user_id) REFERENCES users (id)
);
CREATE TABLE account (
    id int PRIMARY KEY,
    customer_id int NOT NULL,
    iban varchar(34),
    balance decimal(14,2) NOT NULL,
    FOREIGN KEY (customer_id) REFERENCES customer (id)
);
CREATE TABLE orders (
    id int PRIMARY KEY,
    customer_id int NOT NULL,
    account_id int NOT NULL,
    created_by int NOT NULL,
    status varchar(12) NOT NULL,
    total decimal(12,2) NOT NULL,
    created_at datetime NOT NULL,
    FOREIGN KEY (customer_id) REFERENCES customer (id),
    FOREIGN KEY (account_id) REFERENCES account (id),
    FOREIGN KEY (created_by) REFERENCES users (id)
);
CREATE TABLE order_line (                  -- reaches customer only through orders
    id int PRIMARY KEY,
    order_id int NOT NULL,
    sku varchar(20) NOT NULL,
    qty int NOT NULL,
    note text,
    FOREIGN KEY (order_id) REFERENCES orders (id)
);

-- Left behind by skip patterns.
CREATE TABLE AUDIT_LOG (
    id int PRIMARY KEY,
    customer_id int,
    user_id int,
    msg varchar(200),
    FOREIGN KEY (customer_id) REFERENCES customer (id),
    FOREIGN KEY (user_id) REFERENCES users (id)
);
CREATE TABLE temp_import (
    id int PRIMARY KEY,
    payload text
);

INSERT INTO country VALUES (1, 'US', 'United States'), (2, 'DE', 'Germany'), (3, 'FR', 'France'),
    (4, 'JP', 'Japan'), (5, 'BR', 'Brazil'), (6, 'NO', 'Norway');
INSERT INTO currency VALUES ('USD', 'US dollar'), ('EUR', 'Euro'), ('JPY', 'Yen'),
    ('BRL', 'Real'), ('NOK', 'Krone'), ('CHF', 'Swiss franc');
INSERT INTO access_right SELECT seq, CONCAT('right_', seq) FROM seq_1_to_12;
INSERT INTO schema_version VALUES (1, '2021-03-01 10:00:00', 'initial'),
    (2, '2022-07-15 09:30:00', 'orders'), (3, '2024-02-29 23:59:59', 'role access');

INSERT INTO customer
SELECT seq, CONCAT('Customer ', seq), seq % 5 + 1,
       ELT(seq % 5 + 1, 'USD', 'EUR', 'JPY', 'BRL', 'NOK')
FROM seq_1_to_20;
UPDATE customer SET name = 'Øyvind & Søn AS' WHERE id = 2;
UPDATE customer SET name = 'O''Brien\'s "Shop"' WHERE id = 3;

-- Seed users 1 and 2, then five users per customer: ids 100..199 (customer = id div 5 - 19).
INSERT INTO users VALUES (1, NULL, 'admin@starfox.example', 'Site Admin'),
    (2, NULL, 'support@starfox.example', 'Support Desk'), (3, NULL, 'bot@starfox.example', NULL);
INSERT INTO users
SELECT 100 + seq, seq DIV 5 + 1, CONCAT('user', 100 + seq, '@c', seq DIV 5 + 1, '.example'),
       CONCAT('User ', 100 + seq)
FROM seq_0_to_99;
INSERT INTO user_preferences VALUES (1, 'dark', 'en'), (2, 'light', NULL), (3, 'dark', 'de');
INSERT INTO user_preferences
SELECT id, IF(id % 2 = 0, 'dark', 'light'), ELT(id % 3 + 1, 'en', 'de', 'ja') FROM users WHERE id >= 100 AND id % 4 <> 0;

-- Two roles per customer: ids 1000 + 2 * customer (+1).
INSERT INTO role SELECT 1000 + 2 * id, id, 'admin' FROM customer;
INSERT INTO role SELECT 1001 + 2 * id, id, 'viewer' FROM customer;
INSERT INTO role_access_map SELECT r.id, a.id FROM role r JOIN access_right a
    ON (r.name = 'admin' AND a.id <= 8) OR (r.name = 'viewer' AND a.id IN (1, 2, 9));
INSERT INTO role_user SELECT 1000 + 2 * customer_id + (id % 2), id FROM users WHERE customer_id IS NOT NULL;

INSERT INTO account SELECT 500 + id, id, CONCAT('DE', LPAD(id, 20, '0')), id * 1000.25 FROM customer;
INSERT INTO account SELECT 600 + id, id, NULL, -12.5 FROM customer WHERE id % 3 = 0;

-- 1,200 orders: order n belongs to customer n mod 20 + 1, created by one of its users.
INSERT INTO orders
SELECT 10000 + seq, seq % 20 + 1, 500 + seq % 20 + 1, 100 + (seq % 20) * 5 + seq % 5,
       ELT(seq % 4 + 1, 'NEW', 'PAID', 'SHIPPED', 'CANCELLED'),
       (seq * 37 % 100000) / 100,
       TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq * 7 HOUR
FROM seq_0_to_1199;
-- 1 to 3 lines per order.
INSERT INTO order_line
SELECT 100000 + o.id * 3 + l.seq, o.id, CONCAT('SKU-', (o.id * 7 + l.seq) % 97), l.seq + 1,
       IF(o.id % 50 = 0, 'gift wrap, "fragile"\ttab', NULL)
FROM orders o JOIN seq_0_to_2 l ON l.seq <= o.id % 3;

INSERT INTO AUDIT_LOG
SELECT seq, seq % 20 + 1, 100 + seq % 100, CONCAT('event ', seq) FROM seq_1_to_800;
INSERT INTO temp_import SELECT seq, REPEAT('x', seq) FROM seq_1_to_30;
