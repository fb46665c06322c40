-- Keys, foreign keys and the one index the lab ships, added after the bulk
-- load: building them once over loaded rows is far faster than checking
-- every row as it arrives. orders.customer_id and orders.placed_at are
-- deliberately left without an index: adding the right ones is the lab.

ALTER TABLE customers ADD CONSTRAINT customers_pkey PRIMARY KEY (id);
ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email);

ALTER TABLE products ADD CONSTRAINT products_pkey PRIMARY KEY (id);
ALTER TABLE products ADD CONSTRAINT products_sku_key UNIQUE (sku);

ALTER TABLE orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey
    FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('placed', 'paid', 'shipped', 'delivered', 'cancelled'));

ALTER TABLE order_lines ADD CONSTRAINT order_lines_pkey PRIMARY KEY (id);
ALTER TABLE order_lines ADD CONSTRAINT order_lines_order_id_fkey
    FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE order_lines ADD CONSTRAINT order_lines_product_id_fkey
    FOREIGN KEY (product_id) REFERENCES products (id);
ALTER TABLE order_lines ADD CONSTRAINT order_lines_quantity_check CHECK (quantity > 0);
CREATE INDEX order_lines_order_id_idx ON order_lines (order_id);

ALTER TABLE reviews ADD CONSTRAINT reviews_pkey PRIMARY KEY (id);
ALTER TABLE reviews ADD CONSTRAINT reviews_product_id_fkey
    FOREIGN KEY (product_id) REFERENCES products (id);
ALTER TABLE reviews ADD CONSTRAINT reviews_customer_id_fkey
    FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE reviews ADD CONSTRAINT reviews_rating_check CHECK (rating BETWEEN 1 AND 5);

-- New reviews continue after the seeded ones.
SELECT setval(pg_get_serial_sequence('reviews', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM reviews), false);
