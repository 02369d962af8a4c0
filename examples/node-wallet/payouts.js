// payouts.js - a payout worker driven by the ledger's events.
//
// A customer asks for a payout: the application places a hold from the
// customer's wallet to the payout account (ledger.hold), which commits a
// hold_created event with it.  This worker consumes those events, asks the
// payout provider to send the money, captures the hold when the provider
// says paid and releases it when the provider says declined, then
// acknowledges the events.  It can be killed at any instant:
//   - events are acknowledged only after their payouts are settled, so a
//     worker that dies mid-batch gets the batch again (at least once);
//   - the provider request carries the key payout-<hold id>, the same on
//     every attempt and after every restart, so the provider executes a
//     payout once and answers a repeated request with its first decision;
//   - the capture carries the key capture-<hold id>, and a release of a
//     released hold counts as done (ledger.js), so settling twice is
//     harmless; a hold already resolved is not sent to the provider again.
// A provider error or timeout is retried with the same key until the
// provider decides; the hold is never released on a timeout, since the
// money may have gone out.
//
// Environment: the PG* variables; PAYOUT_ACCOUNT, the id of the account
// payouts are held to; PROVIDER_URL (http://127.0.0.1:PORT); PAYOUT_CONSUMER
// (default "payouts"), created if missing for the payout account's book.

import pg from 'pg';
import { Ledger } from './ledger.js';

const consumer = process.env.PAYOUT_CONSUMER ?? 'payouts';
const payoutAccount = process.env.PAYOUT_ACCOUNT;
const providerUrl = process.env.PROVIDER_URL;
const requestTimeoutMs = Number(process.env.PROVIDER_REQUEST_TIMEOUT_MS ?? 1000);
const pollMs = 1000;
const batchSize = 20;

if (!payoutAccount || !providerUrl) {
	console.error('payouts.js: PAYOUT_ACCOUNT and PROVIDER_URL are required');
	process.exit(2);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// askProvider - 'paid', 'declined', or null when it must be asked again.
async function askProvider(event) {
	try {
		const res = await fetch(`${providerUrl}/payouts`, {
			method: 'POST',
			headers: { 'content-type': 'application/json', 'idempotency-key': `payout-${event.hold_id}` },
			body: JSON.stringify({ payout: event.hold_id, amount: event.amount }),
			signal: AbortSignal.timeout(requestTimeoutMs),
		});
		await res.text();
		if (res.status === 200)
			return 'paid';
		if (res.status === 402)
			return 'declined';
		return null;
	} catch {
		return null;			// a timeout or a refused connection
	}
}

async function settle(ledger, event) {
	const { rows } = await ledger.pool.query('SELECT status FROM ledger.holds WHERE id = $1', [event.hold_id]);
	if (rows[0]?.status !== 'pending')
		return;					// settled before a crash; never asked again
	for (let attempt = 1; ; attempt++) {
		const outcome = await askProvider(event);
		if (outcome === 'paid') {
			await ledger.capture(event.hold_id, null, `capture-${event.hold_id}`);
			return;
		}
		if (outcome === 'declined') {
			await ledger.release(event.hold_id);
			return;
		}
		await sleep(Math.min(1000, 20 * 2 ** Math.min(attempt, 6)) * Math.random());
	}
}

async function main() {
	const ledger = new Ledger();
	await ledger.withRetry(async (client) => {
		const { rows } = await client.query(
			'SELECT 1 FROM ledger.consumers WHERE name = $1', [consumer]);
		if (rows.length === 0)
			await client.query(
				`SELECT ledger.create_consumer($1, ARRAY[(SELECT book_id FROM ledger.account_balances
				                                          WHERE account_id = $2)])`,
				[consumer, payoutAccount]);
	}, { idempotent: true });

	// Woken by NOTIFY ledger_events, and by a poll should a wake-up be missed.
	let wake = null;
	const listener = new pg.Client();
	listener.on('error', () => process.exit(1));
	await listener.connect();
	listener.on('notification', () => wake?.());
	await listener.query('LISTEN ledger_events');

	for (;;) {
		const events = await ledger.withRetry(async (client) => {
			const { rows } = await client.query(
				`SELECT id, kind, hold_id, credit_account_id, amount
				   FROM ledger.next_events($1, $2)`, [consumer, batchSize]);
			return rows;
		}, { idempotent: true });
		if (events.length === 0) {
			await new Promise((resolve) => {
				wake = resolve;
				setTimeout(resolve, pollMs);
			});
			wake = null;
			continue;
		}
		for (const event of events)
			if (event.kind === 'hold_created' && event.credit_account_id === payoutAccount)
				await settle(ledger, event);
		await ledger.call('SELECT ledger.ack_events($1, $2) AS v', [consumer, events.at(-1).id]);
	}
}

main().catch((err) => {
	console.error('payouts.js:', err);
	process.exit(1);
});
