// demo.js - a wallet backend's day on the ledger (npm start).
//
// Creates an asset and wallets, deposits, transfers (replaying one with its
// key), refuses an overdraft, places a hold and captures part of it, moves an
// 18-decimal amount past 2^53, then runs 200 transfers among 20 wallets over
// a pool of 10 connections at REPEATABLE READ, so that conflicts happen and
// withRetry repeats them.  Connects with the PG* environment variables; the
// database needs CREATE EXTENSION ledger.  Names carry a per-run suffix, so
// the demo can run again against the same database.

import { randomInt } from 'node:crypto';
import {
	Ledger, InsufficientFundsError, HoldAlreadyResolvedError, LedgerError,
	minorUnits, formatAmount,
} from './ledger.js';

const run = Date.now().toString(36);
const ledger = new Ledger({ max: 10, application_name: 'node-wallet-demo' });
const usd = (text) => minorUnits(text, 2);

function show(title, rows) {
	console.log(`\n${title}`);
	for (const [label, b] of rows)
		console.log(`  ${label.padEnd(10)} posted ${b.postedDisplay.padStart(24)}   available ${b.availableDisplay.padStart(24)}`);
}

try {
	// Set-up: one asset, a funding account and three wallets.
	await ledger.createAsset('USD', 2);
	const bank = await ledger.createAccount({
		asset: 'USD', name: `bank-${run}`, normalBalance: 'debit', minBalance: null,
	});
	const alice = await ledger.createAccount({ asset: 'USD', name: `alice-${run}` });
	const bob = await ledger.createAccount({ asset: 'USD', name: `bob-${run}` });
	const shop = await ledger.createAccount({ asset: 'USD', name: `shop-${run}` });
	console.log(`accounts: bank ${bank}, alice ${alice}, bob ${bob}, shop ${shop} (ids are strings: int8 comes back as text)`);

	await ledger.deposit(bank, alice, usd('100.00'), `${run}:deposit:alice`);
	await ledger.deposit(bank, bob, usd('20.00'), `${run}:deposit:bob`);

	// A transfer, then the same request again (a client retry): same id.
	const t1 = await ledger.transfer(alice, bob, usd('25.50'), `${run}:order-7`, { description: 'order 7' });
	const t1again = await ledger.transfer(alice, bob, usd('25.50'), `${run}:order-7`, { description: 'order 7' });
	console.log(`transfer ${t1}; replayed with its key: ${t1again}`);

	// An overdraft: refused, mapped, with the server's detail and hint.
	try {
		await ledger.transfer(bob, alice, usd('1000.00'), `${run}:too-much`);
	} catch (err) {
		if (!(err instanceof InsufficientFundsError))
			throw err;
		console.log(`${err.name} ${err.code}: ${err.message}\n  detail: ${err.detail}\n  hint:   ${err.hint}`);
	}

	// A card authorisation: hold 50.00, capture 42.00, the rest goes back.
	const hold = await ledger.hold(alice, shop, usd('50.00'), `${run}:auth-9`);
	show(`hold ${hold} of 50.00 placed`, [['alice', await ledger.balance(alice)], ['shop', await ledger.balance(shop)]]);
	const capture = await ledger.capture(hold, usd('42.00'), `${run}:auth-9:capture`);
	show(`hold captured for 42.00 (transfer ${capture})`,
		[['alice', await ledger.balance(alice)], ['bob', await ledger.balance(bob)], ['shop', await ledger.balance(shop)]]);
	try {
		await ledger.release(hold);
	} catch (err) {
		if (!(err instanceof HoldAlreadyResolvedError))
			throw err;
		console.log(`release after capture: ${err.name} (${err.status}): ${err.message}`);
	}

	// 18 decimals: 123456789012.345678901234567890 ETH is far past 2^53 wei.
	await ledger.createAsset('ETH', 18);
	const ethBank = await ledger.createAccount({ asset: 'ETH', name: `eth-bank-${run}`, normalBalance: 'debit', minBalance: null });
	const vault = await ledger.createAccount({ asset: 'ETH', name: `vault-${run}` });
	const wei = 123456789012345678901234567890n;
	await ledger.deposit(ethBank, vault, wei, `${run}:eth-deposit`);
	const vb = await ledger.balance(vault);
	console.log(`\nvault: ${vb.postedDisplay}; posted ${vb.posted} wei (exact: ${vb.posted === wei}; ` +
		`as a JS number it would be ${Number(vb.posted)})`);

	// Many transfers at once: 20 wallets of 100.00 each, 200 transfers of
	// 1.00..60.00 between random pairs over 10 connections, at REPEATABLE
	// READ, where a transfer that meets a concurrent change of its accounts
	// fails with 40001 and withRetry runs it again.  Some overdraw.
	const wallets = [];
	for (let i = 0; i < 20; i++) {
		const id = await ledger.createAccount({ asset: 'USD', name: `w${i}-${run}` });
		await ledger.deposit(bank, id, usd('100.00'), `${run}:fund:${i}`);
		wallets.push(id);
	}
	const retries = {};
	const rr = new Ledger(ledger.pool, {
		isolation: 'repeatable read',
		maxAttempts: 20,
		onRetry: (err) => { retries[err.code ?? err.message] = (retries[err.code ?? err.message] ?? 0) + 1; },
	});
	const outcome = { ok: 0, insufficientFunds: 0 };
	const started = process.hrtime.bigint();
	await Promise.all(Array.from({ length: 200 }, async (_, n) => {
		const from = randomInt(20);
		const to = (from + 1 + randomInt(19)) % 20;
		const amount = BigInt(randomInt(1, 61)) * 100n;
		try {
			await rr.transfer(wallets[from], wallets[to], amount, `${run}:p2p:${n}`);
			outcome.ok++;
		} catch (err) {
			if (!(err instanceof InsufficientFundsError))
				throw err;
			outcome.insufficientFunds++;
		}
	}));
	const ms = Number(process.hrtime.bigint() - started) / 1e6;

	let total = 0n;
	for (const id of wallets)
		total += (await ledger.balance(id)).posted;
	const { rows: [{ problems }] } = await ledger.pool.query('SELECT count(*) AS problems FROM ledger.verify()');
	console.log(`\n200 concurrent transfers in ${ms.toFixed(0)} ms: ${outcome.ok} posted, ` +
		`${outcome.insufficientFunds} refused for insufficient funds, retries ${JSON.stringify(retries)}`);
	console.log(`the 20 wallets still hold ${formatAmount(total, 2)} USD in all (expected 2000.00); ` +
		`ledger.verify() found ${problems} problems`);
	if (total !== usd('2000.00') || problems !== '0')
		process.exitCode = 1;
} catch (err) {
	console.error(err instanceof LedgerError ? `${err.name} ${err.code}: ${err.message}` : err);
	process.exitCode = 1;
} finally {
	await ledger.close();
}
