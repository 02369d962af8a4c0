-- examples/demo.sql: a short tour of the ledger, run by examples/demo.sh.

-- Money is ledger.amount: a signed 128-bit integer of minor units.
SELECT '170141183460469231731687303715884105727'::ledger.amount AS largest_amount;

-- 1 ETH is 10^18 wei, far beyond bigint; the display form takes the asset's scale.
SELECT ledger.format_amount('1500000000000000000'::ledger.amount, 18) AS one_and_a_half_eth,
       ledger.parse_amount('123.45', 2) AS cents;
