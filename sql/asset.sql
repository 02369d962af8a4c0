--
-- Assets: the unit accounts are kept in, with the scale of its display form.
--
SET client_min_messages = warning;
DROP EXTENSION ledger CASCADE;
CREATE EXTENSION ledger;
RESET client_min_messages;

-- Dollars count cents (scale 2), bitcoin satoshis (8), ether wei (18).
SELECT ledger.create_asset('USD', 2);
SELECT ledger.create_asset('BTC', 8);
SELECT ledger.create_asset('ETH', 18);
SELECT ledger.create_asset('POINTS_2026', 0);
SELECT code, scale FROM ledger.assets ORDER BY code;

-- A code is 1 to 16 upper-case letters, digits and underscores.
SELECT ledger.create_asset('usd', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_asset('', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_asset('ABCDEFGHIJKLMNOPQ', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_asset('US D', 2);
\echo :LAST_ERROR_SQLSTATE

-- The scale runs from 0 to 38, the most decimal places a 128-bit amount holds.
SELECT ledger.create_asset('BAD', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_asset('BAD', 39);
\echo :LAST_ERROR_SQLSTATE

-- Codes are unique, and both arguments are required.
SELECT ledger.create_asset('USD', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_asset(NULL, 2);
\echo :LAST_ERROR_SQLSTATE
SELECT ledger.create_asset('XYZ', NULL);
\echo :LAST_ERROR_SQLSTATE

-- None of the rejected calls wrote a row.
SELECT count(*) AS assets FROM ledger.assets;

-- An asset nobody uses may be changed or deleted by its owner ...
UPDATE ledger.assets SET scale = 1 WHERE code = 'POINTS_2026';
DELETE FROM ledger.assets WHERE code = 'POINTS_2026';

-- ... but not one that accounts are kept in: its scale gives their amounts meaning.
SELECT ledger.create_account('BTC') AS btc_account;
UPDATE ledger.assets SET scale = 2 WHERE code = 'BTC';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ledger.assets WHERE code = 'BTC';
\echo :LAST_ERROR_SQLSTATE

-- Assets are created through ledger.create_asset() only.
INSERT INTO ledger.assets (code, scale) VALUES ('EUR', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT code, scale FROM ledger.assets ORDER BY code;
