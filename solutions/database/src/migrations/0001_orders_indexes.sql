-- The ways this service reads orders, each served by an index.

-- A customer's orders, newest first: the filter finds the customer's rows and
-- reads them already sorted, instead of scanning every order and sorting.
CREATE INDEX orders_customer_id_placed_at_idx ON orders (customer_id, placed_at, id);

-- Pages of all orders, newest first: a keyset page seeks straight to the last
-- order served and reads the next rows in order (a B-tree reads backwards as
-- well as forwards, so ascending columns serve ORDER BY ... DESC too).
CREATE INDEX orders_placed_at_id_idx ON orders (placed_at, id);

-- The category report joins a range of orders to their lines: with the three
-- columns it sums stored in the index, each order's lines come from the index
-- alone (an Index Only Scan), without visiting the table.
CREATE INDEX order_lines_order_id_covering_idx ON order_lines (order_id)
    INCLUDE (product_id, quantity, unit_price_cents);
