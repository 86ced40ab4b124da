#!/usr/bin/env python3
"""Generate data/shop.sqlite: a small, deterministic SQLite database of a shop.

Tables: categories, products, customers, orders, order_lines. The data is in
a deliberately "legacy" shape for barge to migrate:

  * orders.status holds strings ('NEW', 'PAID', 'SHIPPED', 'DELIVERED', 'CANCELLED');
  * products.category_name holds the category by name, not by id;
  * products.price and order_lines.unit_price are declared DECIMAL(10,2) and
    are inserted as exact two-decimal text such as '12.50' (see note below);
  * timestamps and dates are text ('YYYY-MM-DD HH:MM:SS', 'YYYY-MM-DD');
  * booleans are 0/1 integers;
  * there are NULLs, unicode names, an apostrophe, and notes with tabs,
    newlines, quotes, backslashes and an emoji.

Everything comes from random.Random(42), so rerunning gives identical rows.

Run from the repository root:

    python3 data/generate_shop.py                  # writes data/shop.sqlite
    python3 data/generate_shop.py --out /tmp/s.db  # somewhere else
    python3 data/generate_shop.py --scale 10       # 10x products/customers/orders

Standard library only (Python 3.11+).

Note on the DECIMAL columns: SQLite gives a column declared DECIMAL(10,2)
NUMERIC affinity, so the text '12.50' is stored as the REAL 12.5 and '12.00'
as the INTEGER 12. A reader therefore sees decltype DECIMAL(10,2) with
typeof() 'real' or 'integer' mixed in one column, and must round to scale 2.
Every price is a whole number of cents well below 2**53, so rounding
recovers the exact value. Forcing text storage under a DECIMAL declared type
(by rewriting sqlite_master) makes PRAGMA integrity_check fail on
SQLite >= 3.40 ("TEXT value in ..."), so this script does not do that.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sqlite3

SEED = 42

CATEGORIES = ["Books", "Garden", "Kitchen", "Toys", "Music", "Sports", "Tools", "Games"]

# Final DDL, exactly as a reader will see it.
DDL = {
    "categories": (
        "CREATE TABLE categories (\n"
        "    id INTEGER PRIMARY KEY,\n"
        "    name TEXT NOT NULL UNIQUE\n"
        ")"
    ),
    "products": (
        "CREATE TABLE products (\n"
        "    id INTEGER PRIMARY KEY,\n"
        "    sku TEXT NOT NULL,\n"
        "    title TEXT NOT NULL,\n"
        "    category_name TEXT NOT NULL,\n"
        "    price DECIMAL(10,2) NOT NULL,\n"
        "    weight_kg REAL,\n"
        "    discontinued BOOLEAN NOT NULL\n"
        ")"
    ),
    "customers": (
        "CREATE TABLE customers (\n"
        "    id INTEGER PRIMARY KEY,\n"
        "    first_name TEXT NOT NULL,\n"
        "    last_name TEXT NOT NULL,\n"
        "    email TEXT,\n"
        "    phone TEXT,\n"
        "    country TEXT NOT NULL,\n"
        "    created_at TIMESTAMP NOT NULL\n"
        ")"
    ),
    "orders": (
        "CREATE TABLE orders (\n"
        "    id INTEGER PRIMARY KEY,\n"
        "    customer_id INTEGER NOT NULL REFERENCES customers(id),\n"
        "    status TEXT NOT NULL,\n"
        "    ordered_at TIMESTAMP NOT NULL,\n"
        "    ship_date DATE,\n"
        "    note TEXT\n"
        ")"
    ),
    "order_lines": (
        "CREATE TABLE order_lines (\n"
        "    order_id INTEGER NOT NULL REFERENCES orders(id),\n"
        "    line_no INTEGER NOT NULL,\n"
        "    product_id INTEGER NOT NULL REFERENCES products(id),\n"
        "    quantity INTEGER NOT NULL,\n"
        "    unit_price DECIMAL(10,2) NOT NULL,\n"
        "    PRIMARY KEY (order_id, line_no)\n"
        ")"
    ),
}
TABLES = list(DDL)

CATEGORY_NOUNS = {
    "Books": ["Novel", "Cookbook", "Atlas", "Biography", "Poetry Collection", "Field Guide"],
    "Garden": ["Trowel", "Hose", "Planter", "Seed Kit", "Watering Can", "Pruner"],
    "Kitchen": ["Skillet", "Kettle", "Knife Set", "Cutting Board", "Colander", "Whisk"],
    "Toys": ["Puzzle", "Kite", "Robot", "Plush Bear", "Train Set", "Yo-Yo"],
    "Music": ["Vinyl LP", "Ukulele", "Harmonica", "Drum Pad", "Guitar Strings", "Metronome"],
    "Sports": ["Football", "Yoga Mat", "Tennis Racket", "Water Bottle", "Jump Rope", "Helmet"],
    "Tools": ["Hammer", "Screwdriver Set", "Drill", "Tape Measure", "Wrench", "Level"],
    "Games": ["Board Game", "Card Deck", "Chess Set", "Dice Set", "Dominoes", "Trivia Game"],
}
ADJECTIVES = ["Classic", "Deluxe", "Compact", "Eco", "Pro", "Vintage", "Mini", "Heavy-Duty",
              "Travel", "Family", "Premium", "Basic"]

FIRST_NAMES = ["Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Isla",
               "Jack", "Karen", "Liam", "Mia", "Noah", "Olivia", "Peter", "Quinn", "Ruth",
               "Sam", "Tara", "Uma", "Victor", "Wendy", "Xavier", "Yara", "Zack"]
LAST_NAMES = ["Smith", "Jones", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Thomas",
              "Johnson", "Roberts", "Walker", "Wright", "Robinson", "Thompson", "White",
              "Hughes", "Edwards", "Green", "Hall", "Wood", "Harris", "Martin", "Clarke"]
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "ES", "NO", "SE", "IE", "CN", "JP", "BR", "CA", "AU"]
COUNTRY_WEIGHTS = [30, 15, 10, 8, 5, 5, 4, 4, 3, 4, 3, 3, 4, 2]

# Customers with awkward names, placed at fixed ids (scaled runs keep them).
# (first, last, email local part or None for NULL email, country)
SPECIAL_CUSTOMERS = {
    7: ("José", "García", "jose.garcia", "ES"),
    19: ("Zoë", "Brontë", "zoe.bronte", "GB"),
    42: ("Øyvind", "Løken", "oyvind.loken", "NO"),
    88: ("李", "伟", "li.wei", "CN"),
    123: ("Siobhán", "O'Brien", "siobhan.obrien", "IE"),
    321: ("Renée", "Müller-Lüdenscheidt", None, "DE"),
}

STATUSES = ["NEW", "PAID", "SHIPPED", "DELIVERED", "CANCELLED"]
STATUS_WEIGHTS = [10, 15, 20, 45, 10]
SHIPPED_STATUSES = {"SHIPPED", "DELIVERED"}

PLAIN_NOTES = ["Leave at the door", "Gift wrap please", "Call before delivery",
               "Back entrance", "No rush"]
# Awkward notes, used in turn for the first few orders that get a note.
SPECIAL_NOTES = [
    "Ring twice\tthen wait",
    "Line one\nLine two\nLine three",
    'She said "fragile" twice',
    "It's for my neighbour's kid",
    "Path C:\\Users\\shop\\invoice.pdf",
    "Thanks! 🎉📦",
    "Mixed:\t'single' \"double\" \\back\\slash\r\nCRLF 😀",
    "   leading and trailing spaces   ",
    "",  # empty string, not NULL
]

CUSTOMER_START = dt.datetime(2023, 1, 1)
CUSTOMER_END = dt.datetime(2024, 12, 31, 23, 59, 59)
ORDER_END = dt.datetime(2024, 12, 31, 23, 59, 59)


def money(cents: int) -> str:
    """Exact two-decimal text for an integer number of cents."""
    return f"{cents // 100}.{cents % 100:02d}"


def ts(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def random_between(rng: random.Random, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    span = int((end - start).total_seconds())
    return start + dt.timedelta(seconds=rng.randint(0, span))


def gen_categories() -> list[tuple]:
    return [(i, name) for i, name in enumerate(CATEGORIES, start=1)]


def gen_products(rng: random.Random, n: int) -> list[tuple]:
    rows = []
    for pid in range(1, n + 1):
        cat = rng.choice(CATEGORIES)
        title = f"{rng.choice(ADJECTIVES)} {rng.choice(CATEGORY_NOUNS[cat])}"
        sku = f"{cat[:3].upper()}-{pid:05d}"
        if rng.random() < 0.1:
            cents = rng.randint(1, 60) * 100  # some whole prices: '12.00'
        else:
            cents = rng.randint(99, 25000)
        weight = None if rng.random() < 0.1 else round(rng.uniform(0.05, 25.0), 3)
        discontinued = 1 if rng.random() < 0.08 else 0
        rows.append((pid, sku, title, cat, money(cents), weight, discontinued))
    return rows


def gen_customers(rng: random.Random, n: int) -> list[tuple]:
    rows = []
    for cid in range(1, n + 1):
        if cid in SPECIAL_CUSTOMERS:
            first, last, local, country = SPECIAL_CUSTOMERS[cid]
            email = None if local is None else f"{local}@example.com"
        else:
            first = rng.choice(FIRST_NAMES)
            last = rng.choice(LAST_NAMES)
            country = rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0]
            if rng.random() < 0.05:
                email = None
            else:
                email = f"{first.lower()}.{last.lower()}{cid}@example.com"
        r = rng.random()
        if r < 0.15:
            phone = None
        elif r < 0.6:
            phone = f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(100000, 9999999)}"
        else:
            phone = f"({rng.randint(200, 999)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
        created = random_between(rng, CUSTOMER_START, CUSTOMER_END)
        rows.append((cid, first, last, email, phone, country, ts(created)))
    return rows


def gen_orders_and_lines(rng: random.Random, n: int, customers: list[tuple],
                         products: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    created_at = {c[0]: dt.datetime.strptime(c[6], "%Y-%m-%d %H:%M:%S") for c in customers}
    customer_ids = [c[0] for c in customers]
    orders, lines = [], []
    special_notes = iter(SPECIAL_NOTES)
    for oid in range(1, n + 1):
        cid = rng.choice(customer_ids)
        status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
        ordered = random_between(rng, created_at[cid], ORDER_END)
        if status in SHIPPED_STATUSES:
            ship_date = (ordered.date() + dt.timedelta(days=rng.randint(0, 7))).isoformat()
        else:
            ship_date = None
        note = None
        if rng.random() < 0.08:
            note = next(special_notes, None)
            if note is None:
                note = rng.choice(PLAIN_NOTES)
        orders.append((oid, cid, status, ts(ordered), ship_date, note))

        for line_no, product in enumerate(rng.sample(products, rng.randint(1, 5)), start=1):
            quantity = rng.choices([1, 2, 3, 4, 5, 10], [50, 20, 12, 8, 6, 4])[0]
            lines.append((oid, line_no, product[0], quantity, product[4]))
    return orders, lines


def build(path: str, scale: int) -> dict[str, int]:
    rng = random.Random(SEED)
    categories = gen_categories()
    products = gen_products(rng, 200 * scale)
    customers = gen_customers(rng, 500 * scale)
    orders, lines = gen_orders_and_lines(rng, 2000 * scale, customers, products)
    data = {"categories": categories, "products": products, "customers": customers,
            "orders": orders, "order_lines": lines}

    for suffix in ("", "-journal", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("BEGIN")
        for table in TABLES:
            con.execute(DDL[table])
            width = len(data[table][0])
            con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * width)})", data[table])
        con.execute("COMMIT")
        con.execute("VACUUM")
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        if ok != "ok":
            raise SystemExit(f"integrity_check failed: {ok}")
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        con.close()


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(here, "shop.sqlite"),
                        help="output path (default: data/shop.sqlite next to this script)")
    parser.add_argument("--scale", type=int, default=1,
                        help="multiplier for products, customers and orders (default 1)")
    args = parser.parse_args()
    if args.scale < 1:
        parser.error("--scale must be >= 1")
    counts = build(args.out, args.scale)
    print(f"{args.out}: " + ", ".join(f"{t}={n}" for t, n in counts.items()))


if __name__ == "__main__":
    main()
