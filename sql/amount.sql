--
-- ledger.amount: a signed 128-bit integer count of minor units.
--
-- An amount has no scale of its own: 12345 is 12345 cents (or satoshis, or
-- whatever the asset's minor unit is).  Arithmetic is exact and an overflow
-- is an error, never a wrap-around.
--
-- The operators and aggregates live in schema ledger; with ledger on the
-- search path, a + 1 and sum(a) find them unqualified.
SET search_path = public, ledger;

-- try(expr) evaluates an expression and returns its text form, or the
-- SQLSTATE and message it fails with, so that a table of cases can show
-- every outcome at once.
CREATE FUNCTION pg_temp.try(expr text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE 'SELECT (' || expr || ')::text' INTO result;
    RETURN coalesce(result, 'NULL');
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;

--
-- Input and output
--

-- The text form is a decimal integer: an optional sign, leading zeros and
-- surrounding white space are accepted; output is always canonical.
SELECT '0'::ledger.amount AS zero, '-0'::ledger.amount AS minus_zero,
       '+5'::ledger.amount AS plus_five, '007'::ledger.amount AS leading_zeros,
       '  42  '::ledger.amount AS spaces, E'\t-17\n'::ledger.amount AS tab_newline;

-- The range is that of a signed 128-bit integer, -2^127 .. 2^127 - 1.
SELECT '170141183460469231731687303715884105727'::ledger.amount AS max,
       '-170141183460469231731687303715884105728'::ledger.amount AS min;

-- Anything that is not a plain decimal integer is a syntax error (22P02);
-- a well-formed integer beyond the range is out of range (22003).
SELECT '1.5'::ledger.amount;
SELECT '170141183460469231731687303715884105728'::ledger.amount;

-- Every edge of the grammar and the range.  A fraction is rejected, not
-- rounded: an amount is already in minor units.
SELECT n, format('%L', input) AS input,
       pg_temp.try(format('%L::ledger.amount', input)) AS result
FROM unnest(ARRAY[
    '170141183460469231731687303715884105727',   -- max
    '170141183460469231731687303715884105728',   -- max + 1
    '-170141183460469231731687303715884105728',  -- min
    '-170141183460469231731687303715884105729',  -- min - 1
    '100000000000000000000000000000000000000',   -- 39 digits, in range
    '1000000000000000000000000000000000000000',  -- 40 digits
    '-9999999999999999999999999999999999999999', -- 40 digits, negative
    '0000000000000000000000000000000000000000000000000000000001',
    '-0', '+5', '007', ' 12 ',
    '', ' ', '-', '+',
    '1.5', '1.', '.5', '1e5', '1,000', '0x10', '--1', '+-1', '- 1', '1 2',
    '12abc', 'abc', 'NaN', 'Infinity'
]) WITH ORDINALITY AS t(input, n)
ORDER BY n;

--
-- Arithmetic
--

-- + - * / % and unary minus work on amounts; / truncates toward zero and %
-- takes the sign of the dividend, as for integers.
SELECT 7::ledger.amount + 3::ledger.amount AS plus,
       7::ledger.amount - 10::ledger.amount AS minus,
       7::ledger.amount * -3::ledger.amount AS times,
       -7::ledger.amount / 2::ledger.amount AS divided,
       -7::ledger.amount % 3::ledger.amount AS modulo,
       7::ledger.amount % -3::ledger.amount AS modulo_neg,
       - 7::ledger.amount AS negated;

-- Results too large for 128 bits are errors, never wrapped values.
SELECT '170141183460469231731687303715884105727'::ledger.amount + 1;

-- Every operator's overflow and zero divisor.  The minimum has no
-- negation, so -min and min / -1 overflow; min % -1 is simply 0.
SELECT n, expr, pg_temp.try(expr) AS result
FROM unnest(ARRAY[
    $$'170141183460469231731687303715884105727'::ledger.amount + 1$$,
    $$'170141183460469231731687303715884105727'::ledger.amount + 0$$,
    $$'-170141183460469231731687303715884105728'::ledger.amount - 1$$,
    $$'-170141183460469231731687303715884105728'::ledger.amount + 1$$,
    $$'-1'::ledger.amount - '170141183460469231731687303715884105727'::ledger.amount$$,
    $$0::ledger.amount - '-170141183460469231731687303715884105728'::ledger.amount$$,
    $$'85070591730234615865843651857942052864'::ledger.amount * 2$$,
    $$'-85070591730234615865843651857942052864'::ledger.amount * 2$$,
    $$'-170141183460469231731687303715884105728'::ledger.amount * -1$$,
    $$'170141183460469231731687303715884105727'::ledger.amount * -1$$,
    $$'18446744073709551616'::ledger.amount * '18446744073709551616'::ledger.amount$$,
    $$- '-170141183460469231731687303715884105728'::ledger.amount$$,
    $$- '170141183460469231731687303715884105727'::ledger.amount$$,
    $$'-170141183460469231731687303715884105728'::ledger.amount / -1$$,
    $$'-170141183460469231731687303715884105728'::ledger.amount / 1$$,
    $$'170141183460469231731687303715884105727'::ledger.amount / -1$$,
    $$'-170141183460469231731687303715884105728'::ledger.amount % -1$$,
    $$'-170141183460469231731687303715884105728'::ledger.amount % 10$$,
    $$'170141183460469231731687303715884105727'::ledger.amount % 10$$,
    $$5::ledger.amount / 0$$,
    $$5::ledger.amount % 0$$,
    $$0::ledger.amount / 0$$
]) WITH ORDINALITY AS t(expr, n)
ORDER BY n;

-- Dividing by zero is SQLSTATE 22012.
SELECT 5::ledger.amount / 0;
SELECT 5::ledger.amount % 0;

--
-- Mixing amounts with integers and numerics
--

CREATE TABLE amounts (id integer PRIMARY KEY, a ledger.amount);
INSERT INTO amounts VALUES (1, 0), (2, 2), (3, 150), (4, -42), (5, NULL);

-- Integers convert to amounts implicitly, so a + 1, a * 2, a = 0 and
-- a > 100 use the exact amount operators and yield amounts.
SELECT id, a, a + 1 AS plus_one, a * 2 AS doubled, a = 0 AS is_zero,
       a > 100 AS over_100, pg_typeof(a + 1) AS type
FROM amounts ORDER BY id;

-- Amounts convert to numeric implicitly, so comparing with a decimal
-- literal compares exactly through numeric.
SELECT id, a, a > 1.5 AS over_1_5, a = 2.0 AS is_2_0, pg_typeof(a > 1.5) AS type,
       a::numeric AS as_numeric, pg_typeof(a::numeric) AS numeric_type
FROM amounts ORDER BY id;

-- A numeric literal in arithmetic gives a numeric result: numeric does not
-- convert to an amount implicitly.
SELECT 5::ledger.amount + 1.5 AS sum, pg_typeof(5::ledger.amount + 1.5) AS type;

--
-- Casts
--

-- smallint, integer and bigint convert to amounts implicitly; they always fit.
SELECT 100::ledger.amount AS from_int,
       (-32768)::smallint::ledger.amount AS from_smallint,
       9223372036854775807::bigint::ledger.amount AS from_bigint_max,
       (-9223372036854775808)::bigint::ledger.amount AS from_bigint_min,
       pg_typeof(100::ledger.amount) AS type;

-- An amount converts to bigint only in assignment or explicitly, and only
-- if it fits (22003 otherwise).
SELECT 9223372036854775807::ledger.amount::bigint AS max_bigint,
       (-9223372036854775808)::ledger.amount::bigint AS min_bigint;
SELECT '9223372036854775808'::ledger.amount::bigint;
SELECT '-9223372036854775809'::ledger.amount::bigint;

-- numeric converts to an amount on assignment or explicitly, exactly or not
-- at all.  A whole number converts, whatever its display scale; a fraction
-- is refused with SQLSTATE 22P02 (as the text '1.5' is) rather than
-- rounded; a value beyond the range is 22003; NaN and infinity are 0A000,
-- as for numeric to bigint.
SELECT 2.0::ledger.amount AS two, (-7.000)::ledger.amount AS minus_seven,
       1e38::ledger.amount AS e38,
       170141183460469231731687303715884105727::numeric::ledger.amount AS max,
       (-170141183460469231731687303715884105728)::numeric::ledger.amount AS min;
SELECT 2.5::ledger.amount;
SELECT 170141183460469231731687303715884105728::ledger.amount;
SELECT 'NaN'::numeric::ledger.amount;
SELECT 'Infinity'::numeric::ledger.amount;
SELECT n, expr, pg_temp.try(expr) AS result
FROM unnest(ARRAY[
    $$0.5::ledger.amount$$,
    $$(-0.5)::ledger.amount$$,
    $$1.000000000000000000001::ledger.amount$$,
    $$(-170141183460469231731687303715884105729)::numeric::ledger.amount$$,
    $$1e39::ledger.amount$$,
    $$'-Infinity'::numeric::ledger.amount$$
]) WITH ORDINALITY AS t(expr, n)
ORDER BY n;

-- In an INSERT the numeric and bigint casts apply as assignment casts.
CREATE TABLE cast_targets (a ledger.amount, b bigint);
INSERT INTO cast_targets VALUES (12.00, 5::ledger.amount);
INSERT INTO cast_targets VALUES (12.50, 5::ledger.amount);
SELECT * FROM cast_targets ORDER BY a;

-- Text converts both ways through the type's input and output.
SELECT '123'::text::ledger.amount AS from_text,
       (-123)::ledger.amount::text AS to_text,
       pg_typeof((-123)::ledger.amount::text) AS type;
SELECT 'twelve'::text::ledger.amount;

--
-- Comparison
--

-- All six comparisons, including at the ends of the range.
SELECT x, y, x = y AS eq, x <> y AS ne, x < y AS lt, x <= y AS le,
       x > y AS gt, x >= y AS ge
FROM (VALUES
    (1::ledger.amount, 1::ledger.amount),
    (1, 2),
    (2, 1),
    (-1, 1),
    ('-170141183460469231731687303715884105728', '170141183460469231731687303715884105727'),
    ('170141183460469231731687303715884105727', '170141183460469231731687303715884105727'),
    ('170141183460469231731687303715884105727', '170141183460469231731687303715884105726')
) AS t(x, y)
ORDER BY x, y;

--
-- Sorting, grouping and indexing
--

CREATE TABLE ledger_rows (id integer, a ledger.amount);
INSERT INTO ledger_rows
SELECT g, (g % 100) * '10000000000000000000000000'::ledger.amount
FROM generate_series(1, 1000) AS g;
INSERT INTO ledger_rows VALUES
    (1001, '-170141183460469231731687303715884105728'),
    (1002, '170141183460469231731687303715884105727'),
    (1003, -1), (1004, NULL);
ANALYZE ledger_rows;

-- ORDER BY uses the btree comparison: the extremes sort at the ends, and
-- NULL last.
SELECT a FROM ledger_rows WHERE a < 2 OR a > '980000000000000000000000000' OR a IS NULL
ORDER BY a;
SELECT a FROM ledger_rows WHERE id > 1000 ORDER BY a DESC;

-- DISTINCT and GROUP BY.
SELECT count(DISTINCT a) AS distinct_amounts FROM ledger_rows;
SELECT DISTINCT a FROM ledger_rows WHERE a < '30000000000000000000000000' ORDER BY a;
SELECT a, count(*) FROM ledger_rows WHERE a < '30000000000000000000000000'
GROUP BY a ORDER BY a;

-- A btree index on an amount column serves equality and range searches.
CREATE INDEX ledger_rows_a ON ledger_rows (a);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
SELECT id, a FROM ledger_rows WHERE a = '70000000000000000000000000' ORDER BY id;
SELECT id, a FROM ledger_rows WHERE a = '70000000000000000000000000' ORDER BY id;
EXPLAIN (COSTS OFF)
SELECT id, a FROM ledger_rows WHERE a >= '980000000000000000000000000' ORDER BY a, id;
SELECT id, a FROM ledger_rows WHERE a >= '980000000000000000000000000' ORDER BY a, id;

-- min() and max() know their sort operators, so they read the index end.
EXPLAIN (COSTS OFF)
SELECT min(a), max(a) FROM ledger_rows;
SELECT min(a), max(a) FROM ledger_rows;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- Grouping by hashing.
SET enable_sort = off;
EXPLAIN (COSTS OFF)
SELECT a, count(*) FROM ledger_rows GROUP BY a;
SELECT a, count(*) FROM ledger_rows GROUP BY a HAVING a < 0 OR a > '980000000000000000000000000'
ORDER BY a;
RESET enable_sort;

-- Joins on amounts, by hashing and by merging.
CREATE TABLE thresholds (a ledger.amount, label text);
INSERT INTO thresholds VALUES
    ('-170141183460469231731687303715884105728', 'min'),
    (-1, 'minus one'),
    ('50000000000000000000000000', 'fifty'),
    ('170141183460469231731687303715884105727', 'max'),
    (12345, 'absent');
ANALYZE thresholds;
SET enable_nestloop = off;
SET enable_mergejoin = off;
EXPLAIN (COSTS OFF)
SELECT t.label, r.id FROM ledger_rows r JOIN thresholds t ON r.a = t.a;
SELECT t.label, count(*) FROM ledger_rows r JOIN thresholds t ON r.a = t.a
GROUP BY t.label ORDER BY t.label;
RESET enable_mergejoin;
SET enable_hashjoin = off;
EXPLAIN (COSTS OFF)
SELECT t.label, r.id FROM ledger_rows r JOIN thresholds t ON r.a = t.a;
SELECT t.label, count(*) FROM ledger_rows r JOIN thresholds t ON r.a = t.a
GROUP BY t.label ORDER BY t.label;
RESET enable_hashjoin;
RESET enable_nestloop;

-- A hash index uses the hash operator class; hash partitioning uses its
-- seeded 64-bit hash function.
CREATE INDEX ledger_rows_a_hash ON ledger_rows USING hash (a);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
DROP INDEX ledger_rows_a;
EXPLAIN (COSTS OFF)
SELECT id FROM ledger_rows WHERE a = -1;
SELECT id FROM ledger_rows WHERE a = -1;
RESET enable_seqscan;
RESET enable_bitmapscan;
CREATE TABLE hashed (a ledger.amount) PARTITION BY HASH (a);
CREATE TABLE hashed_0 PARTITION OF hashed FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE hashed_1 PARTITION OF hashed FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO hashed SELECT g FROM generate_series(1, 100) AS g;
SELECT count(*) AS rows_found_by_pruned_lookup
FROM generate_series(1, 100) AS g
WHERE (SELECT count(*) FROM hashed WHERE a = g) = 1;

--
-- Aggregates
--

-- sum, min, max and avg over amounts are ledger's own: exact and
-- overflow-checked.  sum(a) finds ledger.sum because ledger is on the
-- search path; the qualified name is the same aggregate.
SELECT sum(a), ledger.sum(a) AS qualified_sum, min(a), max(a), avg(a),
       pg_typeof(sum(a)) AS sum_type, pg_typeof(avg(a)) AS avg_type
FROM amounts;

-- sum is exact far beyond the bigint range.
SELECT sum(a) AS ten_times_1e30
FROM (SELECT 1000000000000000000000000000000::ledger.amount AS a
      FROM generate_series(1, 10)) AS t;

-- ... and an overflow is an error, not a wrapped or rounded value.
SELECT sum(a)
FROM (VALUES ('170141183460469231731687303715884105727'::ledger.amount), (1)) AS t(a);

-- avg sums in 192 bits, so it is exact for any count of any amounts: the
-- extremes twice, many times, and mixed.
SELECT avg(a)
FROM (VALUES ('170141183460469231731687303715884105727'::ledger.amount), (1)) AS t(a);
SELECT avg(a) AS max_twice
FROM (VALUES ('170141183460469231731687303715884105727'::ledger.amount),
             ('170141183460469231731687303715884105727')) AS t(a);
SELECT avg(a) AS min_twice
FROM (VALUES ('-170141183460469231731687303715884105728'::ledger.amount),
             ('-170141183460469231731687303715884105728')) AS t(a);
SELECT avg(a) = '170141183460469231731687303715884105727'::numeric AS max_100000_times
FROM (SELECT '170141183460469231731687303715884105727'::ledger.amount AS a
      FROM generate_series(1, 100000)) AS t;
SELECT avg(a) = '-170141183460469231731687303715884105728'::numeric AS min_100000_times
FROM (SELECT '-170141183460469231731687303715884105728'::ledger.amount AS a
      FROM generate_series(1, 100000)) AS t;
SELECT avg(a), avg(a::numeric) AS numeric_avg
FROM (SELECT CASE WHEN g % 3 = 0 THEN '-170141183460469231731687303715884105728'::ledger.amount
                  ELSE '170141183460469231731687303715884105727' END AS a
      FROM generate_series(1, 1000) AS g) AS t;

-- Over no rows, or only NULLs, every aggregate is NULL.
SELECT sum(a), min(a), max(a), avg(a) FROM amounts WHERE false;
SELECT sum(a), min(a), max(a), avg(a) FROM amounts WHERE a IS NULL;

-- An amount mixes with integers in COALESCE, CASE and UNION (its type
-- category is numeric), so the usual "zero if no rows" idiom works.
SELECT coalesce(sum(a), 0) AS total, pg_typeof(coalesce(sum(a), 0)) AS type
FROM amounts WHERE false;

-- avg is exact: it divides the exact sum by the count in numeric, so it
-- agrees with avg over the same values as numeric.
SELECT avg(a), avg(a::numeric) AS numeric_avg, avg(a) = avg(a::numeric) AS same
FROM ledger_rows;
SELECT avg(a) FROM (VALUES (1::ledger.amount), (2)) AS t(a);
SELECT avg(a)
FROM (VALUES ('-170141183460469231731687303715884105728'::ledger.amount),
             ('170141183460469231731687303715884105727')) AS t(a);

-- The aggregates can run in parallel: workers compute partial states and
-- the leader combines them (avg's state travels serialized).
CREATE TABLE many_amounts AS
SELECT g AS id, g::ledger.amount * '1000000000000000000000' AS a
FROM generate_series(1, 20000) AS g;
ANALYZE many_amounts;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
SELECT sum(a), min(a), max(a), avg(a) FROM many_amounts;
SELECT sum(a), min(a), max(a), avg(a) FROM many_amounts;
-- The partial states of extreme amounts combine beyond 128 bits too.
CREATE TABLE extreme_amounts AS
SELECT g AS id, '170141183460469231731687303715884105727'::ledger.amount AS a
FROM generate_series(1, 20000) AS g;
ANALYZE extreme_amounts;
EXPLAIN (COSTS OFF)
SELECT avg(a) FROM extreme_amounts;
SELECT avg(a) FROM extreme_amounts;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
-- The same answers, computed serially through numeric:
SELECT sum(a::numeric), min(a::numeric), max(a::numeric), avg(a::numeric)
FROM many_amounts;

--
-- Binary I/O
--

-- The binary form is 16 bytes, big-endian.
SELECT ledger.amount_send(1) AS one, ledger.amount_send(-1) AS minus_one,
       ledger.amount_send('-170141183460469231731687303715884105728') AS min;

-- A binary COPY round trip preserves every value, the extremes included.
-- (psql's \copy writes the file on the client side, in pg_regress's own
-- results directory, so no other run or server user ever shares it.)
\copy ledger_rows TO 'results/amount_copy.bin' (FORMAT binary)
CREATE TABLE ledger_rows_copy (LIKE ledger_rows);
\copy ledger_rows_copy FROM 'results/amount_copy.bin' (FORMAT binary)
SELECT count(*) AS copied,
       count(*) FILTER (WHERE o.a IS NOT DISTINCT FROM c.a) AS identical
FROM ledger_rows o JOIN ledger_rows_copy c USING (id);

--
-- Decimal text at a scale
--

-- format_amount writes an amount with exactly "scale" fractional digits;
-- parse_amount reads such text back.  Scale 2 is cents: 12345 is 123.45.
SELECT v, s, ledger.format_amount(v, s) AS formatted,
       ledger.parse_amount(ledger.format_amount(v, s), s) AS parsed_back
FROM (VALUES
    (12345::ledger.amount, 2),
    (-12345, 2),
    (-5, 2),
    (0, 2),
    (0, 0),
    (12345, 0),
    (-1, 8),
    (100000000, 8),
    ('123456789012345678901234567890', 18),
    ('170141183460469231731687303715884105727', 38),
    ('-170141183460469231731687303715884105728', 38),
    ('-170141183460469231731687303715884105728', 0),
    (1, 38)
) AS t(v, s)
ORDER BY s, v;

-- parse_amount pads to the scale and accepts what the type input accepts.
SELECT ledger.parse_amount('123.45', 2) AS cents,
       ledger.parse_amount('1.5', 2) AS one_fifty,
       ledger.parse_amount('7', 2) AS seven_hundred,
       ledger.parse_amount('-0.05', 2) AS minus_five,
       ledger.parse_amount('  +0.01 ', 2) AS one,
       ledger.parse_amount('-0.00', 2) AS zero;

-- format and parse are inverses at every scale, at the extremes too.
SELECT bool_and(ledger.parse_amount(ledger.format_amount(v, s), s) = v) AS round_trips,
       count(*) AS cases
FROM (VALUES ('-170141183460469231731687303715884105728'::ledger.amount),
             ('170141183460469231731687303715884105727'), (0), (1), (-1),
             (-5), (99), ('1000000000000000000000000000000')) AS t(v),
     generate_series(0, 38) AS s;

-- parse_amount never rounds: more fractional digits than the scale is
-- SQLSTATE 22P02 with a message saying so.  A scale outside 0..38 is 22023.
SELECT ledger.parse_amount('1.234', 2);
SELECT ledger.format_amount(1, 39);
SELECT n, expr, pg_temp.try(expr) AS result
FROM unnest(ARRAY[
    $$ledger.parse_amount('1.234', 2)$$,
    $$ledger.parse_amount('1.230', 2)$$,
    $$ledger.parse_amount('1.5', 0)$$,
    $$ledger.parse_amount('abc', 2)$$,
    $$ledger.parse_amount('1.', 2)$$,
    $$ledger.parse_amount('1,000.00', 2)$$,
    $$ledger.parse_amount('', 2)$$,
    $$ledger.parse_amount('1701411834604692317316873037158841057.28', 2)$$,
    $$ledger.parse_amount('1701411834604692317316873037158841057.27', 2)$$,
    $$ledger.parse_amount('2', 38)$$,
    $$ledger.parse_amount('1', -1)$$,
    $$ledger.parse_amount('1', 39)$$,
    $$ledger.format_amount(1, -1)$$,
    $$ledger.format_amount(1, 39)$$,
    $$ledger.format_amount(NULL, 2)$$,
    $$ledger.parse_amount(NULL, 2)$$
]) WITH ORDINALITY AS t(expr, n)
ORDER BY n;

--
-- The operators and search_path.  The operators on ledger.amount live in
-- schema ledger.  With ledger on the search path, arithmetic and
-- comparison are the amount's own: exact integers, overflow an error, and
-- an index on an amount column usable.  Without it, the implicit cast to
-- numeric makes the same expressions numeric ones: a fraction where an
-- amount division truncates, no overflow check, and no index.
--
CREATE TABLE priced AS
SELECT g AS id, g::ledger.amount AS price FROM generate_series(1, 1000) AS g;
CREATE INDEX priced_price_idx ON priced (price);
ANALYZE priced;
SET enable_seqscan = off;

SET search_path = public, ledger;
SELECT '-7'::ledger.amount / 2 AS quotient, pg_typeof('-7'::ledger.amount / 2) AS type;
SELECT pg_typeof('1'::ledger.amount + 1) AS sum_type;
SELECT '170141183460469231731687303715884105727'::ledger.amount + 1;
EXPLAIN (COSTS OFF) SELECT id FROM priced WHERE price = 7;

SET search_path = public;
SELECT '-7'::ledger.amount / 2 AS quotient, pg_typeof('-7'::ledger.amount / 2) AS type;
SELECT pg_typeof('1'::ledger.amount + 1) AS sum_type;
SELECT '170141183460469231731687303715884105727'::ledger.amount + 1 AS numeric_sum;
EXPLAIN (COSTS OFF) SELECT id FROM priced WHERE price = 7;
-- Qualified operators are the amount's own whatever the path.
SELECT '-7'::ledger.amount OPERATOR(ledger./) 2 AS quotient;
EXPLAIN (COSTS OFF) SELECT id FROM priced WHERE price OPERATOR(ledger.=) 7;

SET search_path = public, ledger;
RESET enable_seqscan;

DROP TABLE amounts, cast_targets, ledger_rows, ledger_rows_copy, thresholds,
    hashed, many_amounts, extreme_amounts, priced;
