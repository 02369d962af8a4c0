-- test/stress/upgrade-0.1.0-data.sql - a ledger made by version 0.1.0 of the
-- library (the set-up that upgrade.sh used to run), dumped with
-- pg_dump --data-only --schema=ledger.  upgrade.sh restores it into a
-- database at 0.1.0 (as a restore must: session_replication_role =
-- replica), then walks the upgrade scripts.  Regenerate it only with the
-- 0.1.0 library.
COPY ledger.assets (code, scale, created_at) FROM stdin;
USD	2	2026-11-21 07:59:48.960134+00
ETH	18	2026-11-21 07:59:48.960134+00
\.
COPY ledger.accounts (id, asset, name, normal_balance, min_balance, max_balance, closed, metadata, created_at, debits_pending, credits_pending, holds_expire_at, debits_posted, credits_posted, version, updated_at, entry_hash) FROM stdin;
4	USD	up:w:2	credit	0	\N	f	{"i": 2}	2026-11-21 07:59:48.963217+00	0	500	\N	1236	201235	3	2026-11-21 07:59:48.967666+00	\\x16c0e24b6a5c7dc6918f060b1c3f3b2573beff2aafcc653b4ac3901172523476
3	USD	up:w:1	credit	0	\N	f	{"i": 1}	2026-11-21 07:59:48.963217+00	500	0	\N	1235	101239	3	2026-11-21 07:59:48.967954+00	\\xfe8823a2c0e928a4c67a7d3bb92b61f4db6a917047bb7587228bff8204f0bc2b
1	USD	up:fund	debit	\N	\N	f	\N	2026-11-21 07:59:48.961365+00	0	0	\N	1500000	0	5	2026-11-21 07:59:48.966824+00	\\x23ea3740d82ef2dc3052134d25342bacf3be39e34f1b4a03874b44ac504d0b7e
5	USD	up:w:3	credit	0	\N	f	{"i": 3}	2026-11-21 07:59:48.963217+00	0	0	\N	1237	301236	3	2026-11-21 07:59:48.967777+00	\\xfb55079d32621aa707e646e3e5458c380cb3f2f774f8473a038b2be2e214ef6a
6	USD	up:w:4	credit	0	\N	f	{"i": 4}	2026-11-21 07:59:48.963217+00	0	0	\N	1238	401237	3	2026-11-21 07:59:48.967868+00	\\x1970430b471085465e30bac3781d9c11ad790e8962bf36dac27daef04cf3fd40
7	USD	up:w:5	credit	0	\N	f	{"i": 5}	2026-11-21 07:59:48.963217+00	0	0	\N	1239	501238	3	2026-11-21 07:59:48.967954+00	\\x4e62a2a24d953e10ab822a62a59b52797c7693c190ca445780200a1c7b0efe7d
2	ETH	up:eth-fund	debit	\N	\N	f	\N	2026-11-21 07:59:48.962786+00	0	0	\N	123456789012345678901234	0	1	2026-11-21 07:59:48.968394+00	\\x0303de1bcfd8d37ec7c6631236dabd77141298f4105419c18ed64bdcaafad80a
8	ETH	up:eth	credit	0	\N	f	\N	2026-11-21 07:59:48.964168+00	0	0	\N	0	123456789012345678901234	1	2026-11-21 07:59:48.968394+00	\\xe209f63268f06eb8adae8ccb085825a30785e75f5acefcd3aae985d9391f083d
\.
COPY ledger.entries (id, transfer_id, account_id, account_version, direction, amount, balance_after, created_at, hash) FROM stdin;
1	1	1	1	debit	100000	100000	2026-11-21 07:59:48.965188+00	\\x59cab643805f7767cacdc7217c77ee56c0732e30a364d7866704d8359dce7a88
2	1	3	1	credit	100000	100000	2026-11-21 07:59:48.965188+00	\\x60875dcc74d2420b9ef613c8e2fac06ff42cbc8ebca3be852fedfd1f2ac9a95b
3	2	1	2	debit	200000	300000	2026-11-21 07:59:48.966479+00	\\x3b191d00024eec8d683bd7ba436d19a4ef5bb6add9dc71efb0422baaf29c2a0e
4	2	4	1	credit	200000	200000	2026-11-21 07:59:48.966479+00	\\x57b4b6d4b1694f4eef319e0922eea132c10435c4a4a22614a661c1392f54bb90
5	3	1	3	debit	300000	600000	2026-11-21 07:59:48.966631+00	\\xb325d22e6226869682d6c1663f3af568e267b0d529156784a3179559bd85af71
6	3	5	1	credit	300000	300000	2026-11-21 07:59:48.966631+00	\\x39b4bd99cc9ecc68320454b87aa8be0eba27f2dcd1b5bd697011d05c42eb9380
7	4	1	4	debit	400000	1000000	2026-11-21 07:59:48.966735+00	\\x357a41513eb4c6a4afdc26249d96dcc51331c5cc351ee819cfb8f913dc6dc7fa
8	4	6	1	credit	400000	400000	2026-11-21 07:59:48.966735+00	\\x4eaf76d886dd5f21ee2d9c4f89600276915d600744d918395d1a6dca0b9bae9f
9	5	1	5	debit	500000	1500000	2026-11-21 07:59:48.966824+00	\\x23ea3740d82ef2dc3052134d25342bacf3be39e34f1b4a03874b44ac504d0b7e
10	5	7	1	credit	500000	500000	2026-11-21 07:59:48.966824+00	\\x3b77f42a7cacaca634aa4d841924519008d2bd59e0b537323af0cbae6dcf774a
11	6	3	2	debit	1235	98765	2026-11-21 07:59:48.967464+00	\\x123566fba71201eda93f2df84320d5b5535ba02fc5b921bf0243803b2f96d1c8
12	6	4	2	credit	1235	201235	2026-11-21 07:59:48.967464+00	\\xdded7fa67e2b5c86f82d23938edb4926858cc09e26d54118105d575645b4694a
13	7	4	3	debit	1236	199999	2026-11-21 07:59:48.967666+00	\\x16c0e24b6a5c7dc6918f060b1c3f3b2573beff2aafcc653b4ac3901172523476
14	7	5	2	credit	1236	301236	2026-11-21 07:59:48.967666+00	\\x7eea7e66ea0a6767446ca07696445294f05c3585feefa316b8ab6f3324462fa0
15	8	5	3	debit	1237	299999	2026-11-21 07:59:48.967777+00	\\xfb55079d32621aa707e646e3e5458c380cb3f2f774f8473a038b2be2e214ef6a
16	8	6	2	credit	1237	401237	2026-11-21 07:59:48.967777+00	\\x0c44b0cbd8b8b314590616b4696ac61e23416cdc8436b6ccf884843cb44cc85e
17	9	6	3	debit	1238	399999	2026-11-21 07:59:48.967868+00	\\x1970430b471085465e30bac3781d9c11ad790e8962bf36dac27daef04cf3fd40
18	9	7	2	credit	1238	501238	2026-11-21 07:59:48.967868+00	\\xeb727fcbf906e2c609aa5a0fcc802339e525959bb559d3849536f515b420d0d1
19	10	7	3	debit	1239	499999	2026-11-21 07:59:48.967954+00	\\x4e62a2a24d953e10ab822a62a59b52797c7693c190ca445780200a1c7b0efe7d
20	10	3	3	credit	1239	100004	2026-11-21 07:59:48.967954+00	\\xfe8823a2c0e928a4c67a7d3bb92b61f4db6a917047bb7587228bff8204f0bc2b
21	11	2	1	debit	123456789012345678901234	123456789012345678901234	2026-11-21 07:59:48.968394+00	\\x0303de1bcfd8d37ec7c6631236dabd77141298f4105419c18ed64bdcaafad80a
22	11	8	1	credit	123456789012345678901234	123456789012345678901234	2026-11-21 07:59:48.968394+00	\\xe209f63268f06eb8adae8ccb085825a30785e75f5acefcd3aae985d9391f083d
\.
COPY ledger.hold_records (id, debit_account_id, credit_account_id, amount, expires_at, idempotency_key, description, metadata, created_at, status, captured_amount, capture_transfer_id, resolved_at, debit_reserved, credit_reserved) FROM stdin;
1	3	4	500	\N	up-hold	\N	\N	2026-11-21 07:59:48.968847+00	pending	\N	\N	\N	t	t
\.
COPY ledger.transfers (id, debit_account_id, credit_account_id, amount, idempotency_key, description, metadata, created_at, hold_id, reverses_transfer_id) FROM stdin;
1	1	3	100000	up-open-1	opening balance	{"source": "fund"}	2026-11-21 07:59:48.965188+00	\N	\N
2	1	4	200000	up-open-2	opening balance	{"source": "fund"}	2026-11-21 07:59:48.966479+00	\N	\N
3	1	5	300000	up-open-3	opening balance	{"source": "fund"}	2026-11-21 07:59:48.966631+00	\N	\N
4	1	6	400000	up-open-4	opening balance	{"source": "fund"}	2026-11-21 07:59:48.966735+00	\N	\N
5	1	7	500000	up-open-5	opening balance	{"source": "fund"}	2026-11-21 07:59:48.966824+00	\N	\N
6	3	4	1235	\N	\N	\N	2026-11-21 07:59:48.967464+00	\N	\N
7	4	5	1236	up-pay-2	\N	\N	2026-11-21 07:59:48.967666+00	\N	\N
8	5	6	1237	\N	\N	\N	2026-11-21 07:59:48.967777+00	\N	\N
9	6	7	1238	up-pay-4	\N	\N	2026-11-21 07:59:48.967868+00	\N	\N
10	7	3	1239	\N	\N	\N	2026-11-21 07:59:48.967954+00	\N	\N
11	2	8	123456789012345678901234	up-eth	\N	\N	2026-11-21 07:59:48.968394+00	\N	\N
\.
SELECT pg_catalog.setval('ledger.accounts_id_seq', 8, true);
SELECT pg_catalog.setval('ledger.entries_id_seq', 22, true);
SELECT pg_catalog.setval('ledger.hold_records_id_seq', 1, true);
SELECT pg_catalog.setval('ledger.transfers_id_seq', 11, true);
