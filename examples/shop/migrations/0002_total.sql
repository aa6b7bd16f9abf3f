ALTER TABLE orders ADD COLUMN total numeric;
