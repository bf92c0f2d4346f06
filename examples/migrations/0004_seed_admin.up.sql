INSERT INTO users (id, email, display_name) VALUES (1, 'admin@example.com', 'Admin');
