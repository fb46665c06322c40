-- Lab 26: the shop's tables. Loaded into a fresh database before the
-- seeded rows; the services add nothing to it.
CREATE TABLE products (
    sku         text PRIMARY KEY,
    name        text NOT NULL,
    category    text NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents > 0),
    stock       integer NOT NULL CHECK (stock >= 0)
);

CREATE TABLE orders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku         text NOT NULL REFERENCES products (sku),
    quantity    integer NOT NULL CHECK (quantity > 0),
    total_cents bigint NOT NULL,
    charge_id   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
