-- API keys a customer manages: an optional name to tell them apart ("CI", "laptop").
ALTER TABLE api_keys ADD COLUMN name text;
