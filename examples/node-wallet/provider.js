// provider.js - a payout provider to pay against: a small local HTTP server
// that behaves like a bank's or a PSP's payout API on a bad day.
//
//   POST /payouts   Idempotency-Key: <key>   {"payout": "...", "amount": "..."}
//     200 {"status": "paid"}       the money went out
//     402 {"status": "declined"}   it never will, for this key
//     500                          failed before doing anything; try again
//     (no answer in time)          maybe done, maybe not; try again
//
// A key is executed once: a request with a key already decided gets the
// same answer, as real payout APIs promise.  A request that times out has
// been decided half of the time (the answer is lost, not the payout).
// Every request is appended to the log file as a JSON line.  Chances are
// set by PROVIDER_FAIL (500), PROVIDER_TIMEOUT (no answer in time) and
// PROVIDER_DECLINE, fractions; the port by PROVIDER_PORT (0: any, printed
// as the first line of standard output).

import http from 'node:http';
import fs from 'node:fs';

const port = Number(process.env.PROVIDER_PORT ?? 0);
const log = process.env.PROVIDER_LOG ?? 'provider.log';
const failChance = Number(process.env.PROVIDER_FAIL ?? 0.15);
const timeoutChance = Number(process.env.PROVIDER_TIMEOUT ?? 0.15);
const declineChance = Number(process.env.PROVIDER_DECLINE ?? 0.2);
const slowMs = Number(process.env.PROVIDER_SLOW_MS ?? 3000);

const decided = new Map();		// key -> { status, payout, amount }

function record(entry) {
	fs.appendFileSync(log, JSON.stringify({ at: new Date().toISOString(), ...entry }) + '\n');
}

function answer(res, code, body) {
	res.writeHead(code, { 'content-type': 'application/json' });
	res.end(JSON.stringify(body));
}

const server = http.createServer((req, res) => {
	if (req.method !== 'POST' || req.url !== '/payouts') {
		answer(res, 404, { error: 'not found' });
		return;
	}
	let text = '';
	req.on('data', (chunk) => { text += chunk; });
	req.on('end', () => {
		const key = req.headers['idempotency-key'];
		let body;
		try {
			body = JSON.parse(text);
		} catch {
			answer(res, 400, { error: 'bad json' });
			return;
		}
		if (!key) {
			record({ key: null, payout: body.payout, amount: body.amount, outcome: 'no key' });
			answer(res, 400, { error: 'an Idempotency-Key is required' });
			return;
		}
		const known = decided.get(key);
		if (known) {
			const same = known.payout === body.payout && known.amount === body.amount;
			record({ key, payout: body.payout, amount: body.amount, outcome: same ? `replay ${known.status}` : 'key reused' });
			if (!same)
				answer(res, 422, { error: 'the key was used for another payout' });
			else
				answer(res, known.status === 'paid' ? 200 : 402, { status: known.status });
			return;
		}
		const roll = Math.random();
		if (roll < failChance) {
			record({ key, payout: body.payout, amount: body.amount, outcome: 'error' });
			answer(res, 500, { error: 'try again' });
			return;
		}
		const decide = () => {
			const status = Math.random() < declineChance ? 'declined' : 'paid';
			decided.set(key, { status, payout: body.payout, amount: body.amount });
			return status;
		};
		if (roll < failChance + timeoutChance) {
			// Half the time the payout happens and only the answer is lost.
			const status = Math.random() < 0.5 ? decide() : null;
			record({ key, payout: body.payout, amount: body.amount, outcome: status ? `timeout ${status}` : 'timeout' });
			setTimeout(() => {
				if (status)
					answer(res, status === 'paid' ? 200 : 402, { status });
				else
					answer(res, 500, { error: 'too late' });
			}, slowMs);
			return;
		}
		const status = decide();
		record({ key, payout: body.payout, amount: body.amount, outcome: status });
		answer(res, status === 'paid' ? 200 : 402, { status });
	});
});

server.listen(port, '127.0.0.1', () => {
	console.log(server.address().port);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
