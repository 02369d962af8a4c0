// test.js - the wallet client against a real server (npm test).
//
// Connects with the PG* environment variables to a database with the ledger
// extension, creates its own assets and accounts (names unique to the run),
// and checks, each as a named check:
//  - concurrency: 20 wallets, 2 x 200 transfers over a pool of 10, every
//    request sent twice at once with the same idempotency key; one round at
//    REPEATABLE READ (conflicts, retried on 40001), one at READ COMMITTED
//    while another session terminates the pool's backends (lost
//    connections, retried because every call is keyed).  Every tenth
//    request overdraws whatever the order and must fail with
//    InsufficientFundsError.  Final balances must equal the sums computed
//    here with BigInt, each key applied once; the transfers with the run's
//    key prefix must number the distinct keys that succeeded, and replaying
//    every key afterwards must return the same ids;
//  - the mapping of each SQLSTATE a wallet meets to its error class, with
//    the server's message, detail and hint;
//  - holds: replayed hold and capture keys, partial capture, release after
//    capture and after release, expiry;
//  - amounts past 2^53 (18-decimal wei, up to the ledger.amount maximum)
//    in and out exactly, and formatted as the server formats them;
//  - SELECT count(*) FROM ledger.verify() is 0.
// Prints one line per failed check and a one-line summary; exits 1 on any
// failure.

import { randomBytes, randomInt } from 'node:crypto';
import pg from 'pg';
import {
	Ledger, LedgerError, ValidationError, NotFoundError, IdempotencyConflictError,
	AccountClosedError, InsufficientFundsError, LimitExceededError,
	HoldAlreadyResolvedError, minorUnits, formatAmount, toAmount,
} from './ledger.js';

const WALLETS = 20;
const REQUESTS = 200;			// per round; each sent twice
const run = BigInt('0x' + randomBytes(5).toString('hex')).toString(36).toUpperCase();
const prefix = `nwt-${run}:`;
const appName = `node-wallet-test-${run}`;
const usdCode = `NWU_${run}`;
const ethCode = `NWE_${run}`;
const usd = (text) => minorUnits(text, 2);

const watchdog = setTimeout(() => {
	console.error('node-wallet test: FAILED, still running after 90 s');
	process.exit(1);
}, 90_000);

let passed = 0;
const failures = [];
function check(name, ok, info = '') {
	if (ok) {
		passed++;
	} else {
		failures.push(name);
		console.log(`FAIL ${name}${info ? `: ${info}` : ''}`);
	}
}

// expectError - run fn; check that it throws an instance of cls with this code.
async function expectError(name, cls, code, fn, more = () => true) {
	try {
		const v = await fn();
		check(name, false, `returned ${v} instead of throwing ${cls.name}`);
		return null;
	} catch (err) {
		check(name, err instanceof cls && err.code === code && more(err),
			`got ${err?.name} ${err?.code}: ${err?.message} (detail ${err?.detail}, hint ${err?.hint})`);
		return err;
	}
}

const retries = {};
const countRetry = (err) => {
	const k = err.commitUnknown ? 'lost at COMMIT' : err.code ?? 'connection';
	retries[k] = (retries[k] ?? 0) + 1;
};
const poolConfig = { max: 10, application_name: appName };
const ledger = new Ledger(poolConfig, { maxAttempts: 25, onRetry: countRetry });
const rr = new Ledger(ledger.pool, { isolation: 'repeatable read', maxAttempts: 25, onRetry: countRetry });
const admin = new pg.Client({ application_name: `${appName}-admin` });

const expected = new Map();		// account id -> expected posted balance (BigInt)
const credit = (id, amount) => expected.set(id, (expected.get(id) ?? 0n) + amount);
const successfulKeys = new Map();	// idempotency key -> transfer id
let calls = 0;
let overdraftsRefused = 0;
let kills = 0;
let killsSkipped = false;
let keyMismatches = 0;

// record - note a successful keyed transfer; a key must always give one id.
function record(key, id) {
	const seen = successfulKeys.get(key);
	if (seen === undefined) {
		successfulKeys.set(key, id);
		return true;
	}
	if (seen !== id) {
		keyMismatches++;
		if (keyMismatches <= 3)
			console.log(`  key ${key} returned transfers ${seen} and ${id}`);
	}
	return false;
}

// round - REQUESTS transfers among the wallets, each sent twice at once.
async function round(name, client, wallets, total) {
	const outcomes = await Promise.all(Array.from({ length: REQUESTS }, async (_, n) => {
		const key = `${prefix}${name}:${n}`;
		const from = wallets[randomInt(WALLETS)];
		let to = wallets[randomInt(WALLETS - 1)];
		if (to === from)
			to = wallets[WALLETS - 1];
		const overdraft = n % 10 === 0;
		const amount = overdraft ? total + 1n : BigInt(randomInt(1, 6001));
		const send = async () => {
			calls++;
			try {
				return { id: await client.transfer(from, to, amount.toString(), key) };
			} catch (err) {
				return { err };
			}
		};
		const results = await Promise.all([send(), send()]);
		return { key, from, to, amount, overdraft, results };
	}));
	let badErrors = 0;
	let overdraftOk = true;
	for (const { key, from, to, amount, overdraft, results } of outcomes) {
		for (const r of results) {
			if (r.err) {
				if (r.err instanceof InsufficientFundsError && r.err.code === 'LG103' &&
					/available balance/.test(r.err.detail ?? '') && r.err.hint) {
					if (overdraft)
						overdraftsRefused++;
				} else {
					badErrors++;
					console.log(`  ${key}: ${r.err.name} ${r.err.code}: ${r.err.message}`);
				}
			} else if (overdraft) {
				overdraftOk = false;
			} else if (record(key, r.id)) {
				credit(from, -amount);
				credit(to, amount);
			}
		}
	}
	check(`${name}: every failure is an InsufficientFundsError with detail and hint`, badErrors === 0, `${badErrors} others`);
	check(`${name}: every overdraft of ${formatAmount(total + 1n, 2)} is refused`, overdraftOk);
}

// killer - while running.value, terminate one of the pool's backends now and
// then; an error (a role that may not signal them) turns it off.
async function killer(running) {
	while (running.value && kills < 25) {
		await new Promise((resolve) => setTimeout(resolve, 10 + randomInt(20)));
		try {
			const { rows } = await admin.query(
				`SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
				  WHERE application_name = $1 ORDER BY random() LIMIT 1`, [appName]);
			if (rows[0]?.killed)
				kills++;
		} catch (err) {
			killsSkipped = true;
			console.log(`  (not terminating backends: ${err.message})`);
			return;
		}
	}
}

async function main() {
	await admin.connect();

	// --- set-up -----------------------------------------------------------
	check('createAsset returns the code', await ledger.createAsset(usdCode, 2) === usdCode);
	check('createAsset is idempotent for the same scale', await ledger.createAsset(usdCode, 2) === usdCode);
	await expectError('createAsset with another scale: LG007', ValidationError, 'LG007',
		() => ledger.createAsset(usdCode, 3));
	const bank = await ledger.createAccount({
		asset: usdCode, name: `${prefix}bank`, normalBalance: 'debit', minBalance: null,
	});
	check('ids come back as strings (int8)', typeof bank === 'string' && /^[0-9]+$/.test(bank), typeof bank);
	const wallets = [];
	for (let i = 0; i < WALLETS; i++) {
		const id = await ledger.createAccount({ asset: usdCode, name: `${prefix}wallet-${i}` });
		const amount = usd('100.00');
		record(`${prefix}fund:${i}`, await ledger.deposit(bank, id, amount, `${prefix}fund:${i}`));
		credit(bank, amount);		// debit-normal: a debit raises its balance
		credit(id, amount);
		wallets.push(id);
	}
	const total = usd('100.00') * BigInt(WALLETS);

	// --- concurrency, replays, lost connections ----------------------------
	await round('rr', rr, wallets, total);
	const running = { value: true };
	const chaos = killer(running);
	try {
		await round('rc-killed', ledger, wallets, total);
	} finally {
		running.value = false;
		await chaos;
	}

	check('concurrent calls with one key all return one transfer id', keyMismatches === 0,
		`${keyMismatches} keys returned two ids`);

	// Replaying every key afterwards, once more, returns its transfer.
	let replayMismatches = 0;
	const { rows: posted } = await admin.query(
		`SELECT idempotency_key, id::text, debit_account_id::text AS d, credit_account_id::text AS c, amount
		   FROM ledger.transfers WHERE starts_with(idempotency_key, $1)`, [prefix]);
	check('transfers with the run\'s prefix = distinct keys that succeeded',
		posted.length === successfulKeys.size, `${posted.length} rows, ${successfulKeys.size} keys`);
	for (const row of posted) {
		calls++;
		const again = await ledger.transfer(row.d, row.c, row.amount, row.idempotency_key);
		if (again !== row.id || successfulKeys.get(row.idempotency_key) !== row.id)
			replayMismatches++;
	}
	check('each stored transfer is the one its key returned, and a replay returns it again',
		replayMismatches === 0, `${replayMismatches} mismatches`);

	let balanceMismatches = 0;
	let walletSum = 0n;
	for (const id of [bank, ...wallets]) {
		const b = await ledger.balance(id);
		if (b.posted !== expected.get(id) || b.available !== b.posted)
			balanceMismatches++;
		if (id !== bank)
			walletSum += b.posted;
	}
	check('final balances equal the BigInt sums of the keys applied once', balanceMismatches === 0,
		`${balanceMismatches} accounts differ`);
	check('the wallets still hold the money deposited', walletSum === total, `${walletSum} != ${total}`);

	// --- error mapping ----------------------------------------------------
	const [w0, w1] = wallets;
	const anyKey = [...successfulKeys.keys()].find((k) => k.includes(':rr:'));
	const anyRow = posted.find((r) => r.idempotency_key === anyKey);
	await expectError('same key, other amount: IdempotencyConflictError LG012', IdempotencyConflictError, 'LG012',
		() => ledger.transfer(anyRow.d, anyRow.c, (BigInt(anyRow.amount) + 1n).toString(), anyKey),
		(e) => /already used/.test(e.message) && /transfer/.test(e.detail ?? ''));
	await expectError('overdraft: InsufficientFundsError LG103', InsufficientFundsError, 'LG103',
		() => ledger.transfer(w0, w1, total + 1n, `${prefix}overdraft`),
		(e) => e instanceof LedgerError && e.detail.includes(`the amount is ${total + 1n}`) && e.hint.length > 0);
	const capped = await ledger.createAccount({ asset: usdCode, name: `${prefix}capped`, maxBalance: '1000' });
	await expectError('above max_balance: LimitExceededError LG104', LimitExceededError, 'LG104',
		() => ledger.deposit(bank, capped, '1001', `${prefix}capped-1`), (e) => /maximum balance/.test(e.detail ?? ''));
	const closed = await ledger.createAccount({ asset: usdCode, name: `${prefix}closed` });
	await admin.query('SELECT ledger.close_account($1)', [closed]);
	await expectError('closed account: AccountClosedError LG102', AccountClosedError, 'LG102',
		() => ledger.deposit(bank, closed, '1', `${prefix}closed-1`), (e) => /reopen/i.test(e.hint ?? ''));
	await expectError('unknown account: NotFoundError LG004', NotFoundError, 'LG004',
		() => ledger.transfer(w0, '999999999999', '1', `${prefix}nobody`));
	await expectError('unknown account name: NotFoundError LG004', NotFoundError, 'LG004',
		() => ledger.accountId(`${prefix}nobody`));
	await expectError('unknown asset: NotFoundError LG005', NotFoundError, 'LG005',
		() => ledger.createAccount({ asset: `NWX_${run}`, name: `${prefix}x` }));
	await expectError('to itself: ValidationError LG003', ValidationError, 'LG003',
		() => ledger.transfer(w0, w0, '1', `${prefix}self`));
	await expectError('zero amount: ValidationError LG001', ValidationError, 'LG001',
		() => ledger.transfer(w0, w1, '0', `${prefix}zero`), (e) => e.hint.length > 0);
	await expectError('name taken: ValidationError LG008', ValidationError, 'LG008',
		() => ledger.createAccount({ asset: usdCode, name: `${prefix}capped` }));
	await expectError('key too long: ValidationError LG011', ValidationError, 'LG011',
		() => ledger.transfer(w0, w1, '1', 'k'.repeat(256)));
	let typeErrors = 0;
	for (const bad of [1, 2 ** 60, '1.5', '1e3', ' 1', null]) {
		try {
			toAmount(bad);
		} catch (err) {
			if (err instanceof TypeError)
				typeErrors++;
		}
	}
	check('toAmount refuses numbers and non-integers before any query', typeErrors === 6, `${typeErrors} of 6`);
	let sentNumber = false;
	try {
		await ledger.transfer(w0, w1, 100, `${prefix}number`);
		sentNumber = true;
	} catch (err) {
		sentNumber = !(err instanceof TypeError);
	}
	check('transfer(…, 100) with a JS number is refused client-side', !sentNumber);

	// --- holds --------------------------------------------------------------
	const payer = await ledger.createAccount({ asset: usdCode, name: `${prefix}payer` });
	const shop = await ledger.createAccount({ asset: usdCode, name: `${prefix}shop` });
	await ledger.deposit(bank, payer, usd('100.00'), `${prefix}payer-fund`);
	const h1 = await ledger.hold(payer, shop, usd('50.00'), `${prefix}auth-1`);
	check('a hold replayed with its key returns the same hold', await ledger.hold(payer, shop, usd('50.00'), `${prefix}auth-1`) === h1);
	let b = await ledger.balance(payer);
	check('a hold counts as pending and lowers the available balance',
		b.posted === usd('100.00') && b.pendingDebits === usd('50.00') && b.available === usd('50.00') &&
		b.availableDisplay === `50.00 ${usdCode}`, JSON.stringify(b, (k, v) => typeof v === 'bigint' ? v.toString() : v));
	await expectError('capture beyond the hold: ValidationError LG205', ValidationError, 'LG205',
		() => ledger.capture(h1, usd('50.01'), `${prefix}auth-1-cap-x`));
	const c1 = await ledger.capture(h1, usd('42.00'), `${prefix}auth-1-cap`);
	check('a capture replayed with its key returns the same transfer', await ledger.capture(h1, usd('42.00'), `${prefix}auth-1-cap`) === c1);
	b = await ledger.balance(payer);
	const s = await ledger.balance(shop);
	check('a partial capture posts 42.00 and releases the rest',
		b.posted === usd('58.00') && b.pendingDebits === 0n && b.available === usd('58.00') &&
		s.posted === usd('42.00') && s.pendingCredits === 0n && b.postedDisplay === `58.00 ${usdCode}`);
	await expectError('release after capture: HoldAlreadyResolvedError LG202', HoldAlreadyResolvedError, 'LG202',
		() => ledger.release(h1), (e) => e.status === 'captured');
	const h2 = await ledger.hold(payer, shop, usd('10.00'), `${prefix}auth-2`);
	await ledger.release(h2);
	await expectError('release after release: HoldAlreadyResolvedError LG203', HoldAlreadyResolvedError, 'LG203',
		() => ledger.release(h2), (e) => e.status === 'released');
	await expectError('capture after release: HoldAlreadyResolvedError LG203', HoldAlreadyResolvedError, 'LG203',
		() => ledger.capture(h2, null, `${prefix}auth-2-cap`));
	await expectError('unknown hold: NotFoundError LG201', NotFoundError, 'LG201',
		() => ledger.capture('999999999999', null, `${prefix}nohold`));
	const h3 = await ledger.hold(payer, shop, usd('5.00'), `${prefix}auth-3`,
		{ expiresAt: new Date(Date.now() + 300) });
	await new Promise((resolve) => setTimeout(resolve, 400));
	await expectError('capture after expiry: HoldAlreadyResolvedError LG204', HoldAlreadyResolvedError, 'LG204',
		() => ledger.capture(h3, null, `${prefix}auth-3-cap`), (e) => e.status === 'expired');
	b = await ledger.balance(payer);
	check('an expired hold no longer counts', b.pendingDebits === 0n && b.available === usd('58.00'));

	// --- amounts past 2^53 ------------------------------------------------------
	await ledger.createAsset(ethCode, 18);
	const ethBank = await ledger.createAccount({ asset: ethCode, name: `${prefix}eth-bank`, normalBalance: 'debit', minBalance: null });
	const ethBank2 = await ledger.createAccount({ asset: ethCode, name: `${prefix}eth-bank2`, normalBalance: 'debit', minBalance: null });
	const e1 = await ledger.createAccount({ asset: ethCode, name: `${prefix}eth-1` });
	const e2 = await ledger.createAccount({ asset: ethCode, name: `${prefix}eth-2` });
	const e3 = await ledger.createAccount({ asset: ethCode, name: `${prefix}eth-3`, minBalance: null });
	const wei = '123456789012345678901234567890';
	const part = 98765432109876543210987654321n;
	const t = await ledger.deposit(ethBank, e1, wei, `${prefix}eth-deposit`);
	await ledger.transfer(e1, e2, part, `${prefix}eth-move`);
	const eb1 = await ledger.balance(e1);
	const eb2 = await ledger.balance(e2);
	check('123456789012345678901234567890 wei survives the round trip',
		eb1.posted + eb2.posted === BigInt(wei) && eb2.posted === part && eb1.posted === BigInt(wei) - part,
		`${eb1.posted} + ${eb2.posted}`);
	const { rows: [tr] } = await admin.query(
		'SELECT amount, ledger.format_amount(amount, 18) AS shown FROM ledger.transfers WHERE id = $1', [t]);
	check('a ledger.amount column arrives as the exact string', tr.amount === wei, `${typeof tr.amount} ${tr.amount}`);
	check('formatAmount agrees with ledger.format_amount',
		tr.shown === '123456789012.345678901234567890' && formatAmount(BigInt(wei), 18) === tr.shown &&
		eb1.postedDisplay === `${formatAmount(eb1.posted, 18)} ${ethCode}`, `${tr.shown} / ${eb1.postedDisplay}`);
	check('the JS number of that amount would be wrong', Number(wei).toString() !== wei && BigInt(Number(wei)) !== BigInt(wei));
	const max = (1n << 127n) - 1n;
	await ledger.deposit(ethBank2, e3, max, `${prefix}eth-max`);
	check('the largest ledger.amount (2^127 - 1) comes back exactly', (await ledger.balance(e3)).posted === max);
	await expectError('2^127 is out of range: ValidationError 22003', ValidationError, '22003',
		() => ledger.deposit(ethBank2, e3, max + 1n, `${prefix}eth-max+1`));
	await expectError('a balance past 2^127 - 1: LedgerError LG105', LedgerError, 'LG105',
		() => ledger.deposit(ethBank2, e3, '1', `${prefix}eth-overflow`));
	const e4 = await ledger.createAccount({ asset: ethCode, name: `${prefix}eth-4` });
	await ledger.transfer(e3, e4, max, `${prefix}eth-on`);
	check('the largest amount moves on', (await ledger.balance(e3)).posted === 0n &&
		(await ledger.balance(e4)).posted === max);

	// --- the whole ledger ---------------------------------------------------
	const { rows: [v] } = await admin.query('SELECT count(*) FROM ledger.verify()');
	let problems = '';
	if (v.count !== '0') {
		const { rows } = await admin.query('SELECT account_id, problem FROM ledger.verify() LIMIT 10');
		problems = rows.map((r) => `\n  ${r.account_id ?? '-'}: ${r.problem}`).join('');
	}
	check('SELECT count(*) FROM ledger.verify() is 0 (a string: count is int8)', v.count === '0', v.count + problems);
}

try {
	await main();
} catch (err) {
	check('no unexpected error', false, err?.stack ?? String(err));
} finally {
	await Promise.allSettled([ledger.close(), admin.end()]);
	clearTimeout(watchdog);
}
const retrySummary = Object.entries(retries).map(([k, n]) => `${k} x${n}`).join(', ') || 'none';
console.log(`node-wallet test: ${failures.length === 0 ? 'ok' : 'FAILED'}, ${passed} checks passed, ` +
	`${failures.length} failed; ${calls} transfer calls, ${successfulKeys.size} keys applied once, ` +
	`${overdraftsRefused} overdraft calls refused, ` +
	`${killsSkipped ? 'backends not terminated' : `${kills} backends terminated`}, retries: ${retrySummary}`);
process.exitCode = failures.length === 0 ? 0 : 1;
