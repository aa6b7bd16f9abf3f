CREATE TABLE orders (id serial primary key);
