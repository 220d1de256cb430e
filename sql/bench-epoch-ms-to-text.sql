-- bench only (pgloader's best case): rewrite a DateTime column's epoch-millisecond integers as the text form SQLite's
-- own date functions write, which pgloader can parse. Text values are left as they are.
UPDATE {{table}} SET {{column}} = strftime('%Y-%m-%d %H:%M:%f', {{column}} / 1000.0, 'unixepoch') WHERE typeof({{column}}) = 'integer';
