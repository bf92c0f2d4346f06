-- Accounts. Works unchanged on PostgreSQL, MySQL/MariaDB and SQLite.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email VARCHAR(255) NOT NULL UNIQUE,
    display_name VARCHAR(100) NOT NULL
);
