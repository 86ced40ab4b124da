-- stable_ids, the prod environment: the target of pipelines/stable_ids.toml,
-- created empty. Every key is new: UUIDs for contacts, properties, requests
-- and quote items, positive BIGINTs for projects and quotes; every foreign
-- key is enforced.
--
--   psql "$PROD_DB_URL" -f data/stable_ids/prod.sql

CREATE TABLE contacts (
    id    uuid PRIMARY KEY,
    name  text NOT NULL,
    email text
);
CREATE TABLE properties (
    id      uuid PRIMARY KEY,
    address text NOT NULL,
    city    text
);
CREATE TABLE requests (
    id                   uuid PRIMARY KEY,
    agent_contact_id     uuid NOT NULL REFERENCES contacts (id),
    homeowner_contact_id uuid REFERENCES contacts (id),
    property_id          uuid REFERENCES properties (id),
    message              text
);
CREATE TABLE projects (
    id                    bigint PRIMARY KEY,
    request_id            uuid REFERENCES requests (id),
    agent_contact_id      uuid NOT NULL REFERENCES contacts (id),
    homeowner_contact_id  uuid NOT NULL REFERENCES contacts (id),
    homeowner2_contact_id uuid REFERENCES contacts (id),
    property_id           uuid NOT NULL REFERENCES properties (id),
    title                 text NOT NULL
);
CREATE TABLE quotes (
    id               bigint PRIMARY KEY,
    project_id       bigint NOT NULL REFERENCES projects (id),
    agent_contact_id uuid NOT NULL REFERENCES contacts (id),
    amount           numeric(12,2) NOT NULL
);
CREATE TABLE quote_items (
    id          uuid PRIMARY KEY,
    quote_id    bigint NOT NULL REFERENCES quotes (id),
    project_id  bigint NOT NULL REFERENCES projects (id),
    line_no     integer NOT NULL,
    description text NOT NULL,
    qty         integer NOT NULL
);
