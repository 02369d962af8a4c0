// ledger.js - a wallet service's view of the ledger extension, on node-postgres.
//
// One Ledger wraps one pg.Pool.  Each method is one transaction holding one
// ledger call, run by withRetry, which repeats the whole transaction when
// PostgreSQL reports a transient conflict (40001, 40P01, 55P03) and, when it
// is safe, after a lost connection.  It is safe for every method here,
// because each one names its request:
//   - deposit, transfer, hold and capture take an idempotency key: the
//     ledger answers a replay with the original id and moves nothing again;
//   - release is keyed by its hold id: a release replayed after a lost
//     connection finds the hold already released (LG203) and counts as done;
//   - createAccount is keyed by the account name: a replay finds the name
//     taken (LG008) and returns the account that has it.
//
// Money never becomes a JS number: a number is exact only up to 2^53, and an
// 18-decimal asset passes that at 0.009 of a unit.  Amounts go to the server
// as decimal strings of minor units (from a string or a BigInt) and come back
// as BigInt: node-postgres does not know the type ledger.amount and hands its
// values over as the text the server sent.  Ids (bigint) come back as strings
// for the same reason (node-postgres leaves int8 as text) and stay strings.
//
// Errors with our SQLSTATEs (class LG, docs/errors.md) become the
// application errors below, carrying the server's message, detail, hint and
// context.

import pg from 'pg';

// ---------------------------------------------------------------------------
// Amounts
// ---------------------------------------------------------------------------

const INTEGER = /^-?[0-9]+$/;

/**
 * toAmount - an amount of minor units as the decimal string the server
 * expects.  Accepts a BigInt or a string of digits; refuses a number, even a
 * whole one, so that no amount ever goes through a double on its way.
 */
export function toAmount(value, what = 'amount') {
	if (typeof value === 'bigint')
		return value.toString();
	if (typeof value === 'string' && INTEGER.test(value))
		return value;
	if (typeof value === 'number')
		throw new TypeError(`${what} must be a string or a BigInt of minor units, not the number ${value}`);
	throw new TypeError(`${what} must be a whole number of minor units, not ${JSON.stringify(value)}`);
}

/** parseAmount - a ledger.amount column (text from node-postgres) as a BigInt; null stays null. */
export function parseAmount(text) {
	return text === null || text === undefined ? null : BigInt(text);
}

/**
 * formatAmount - minor units as a decimal string with `scale` places, the
 * same text as ledger.format_amount(amount, scale): 12345n, 2 -> "123.45".
 */
export function formatAmount(amount, scale) {
	const v = BigInt(amount);
	const digits = (v < 0n ? -v : v).toString().padStart(scale + 1, '0');
	const sign = v < 0n ? '-' : '';
	if (scale === 0)
		return sign + digits;
	return `${sign}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

/**
 * minorUnits - a decimal string in an asset's units as BigInt minor units,
 * like ledger.parse_amount: ('25.50', 2) -> 2550n.  More decimals than the
 * scale are refused, never rounded.
 */
export function minorUnits(text, scale) {
	const m = /^(-?)([0-9]+)(?:\.([0-9]*))?$/.exec(text);
	if (!m || (m[3] ?? '').length > scale)
		throw new TypeError(`"${text}" is not an amount with at most ${scale} decimals`);
	const v = BigInt(m[2] + (m[3] ?? '').padEnd(scale, '0'));
	return m[1] ? -v : v;
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** LedgerError - a rejection by the ledger, with the server's fields. */
export class LedgerError extends Error {
	constructor(err) {
		super(err.message, { cause: err });
		this.name = new.target.name;
		this.code = err.code;			// SQLSTATE, e.g. 'LG103'
		this.detail = err.detail;		// DETAIL: the figures, when the server gave them
		this.hint = err.hint;			// HINT: what to do
		this.context = err.where;		// CONTEXT: e.g. 'transfer_batch item 3'
	}
}
/** The call is wrong and will fail again unchanged (most of LG0xx, LG101, LG205, bad amounts). */
export class ValidationError extends LedgerError {}
/** An account, asset, transfer or hold that does not exist (LG004, LG005, LG017, LG201). */
export class NotFoundError extends LedgerError {}
/** The idempotency key was used before with other arguments (LG012): a client bug. */
export class IdempotencyConflictError extends LedgerError {}
/** A closed account takes part in no movement (LG102). */
export class AccountClosedError extends LedgerError {}
/** The debit account's available balance would fall below its minimum (LG103). */
export class InsufficientFundsError extends LedgerError {}
/** The credit account would pass its maximum balance (LG104). */
export class LimitExceededError extends LedgerError {}
/** The hold was already captured (LG202), released (LG203) or has expired (LG204). */
export class HoldAlreadyResolvedError extends LedgerError {
	constructor(err) {
		super(err);
		this.status = { LG202: 'captured', LG203: 'released', LG204: 'expired' }[err.code];
	}
}
/** A transient conflict that outlasted every retry (40001, 40P01, 55P03). */
export class ConcurrencyError extends LedgerError {}

const ERROR_CLASSES = {
	LG004: NotFoundError,
	LG005: NotFoundError,
	LG017: NotFoundError,
	LG201: NotFoundError,
	LG012: IdempotencyConflictError,
	LG101: ValidationError,
	LG102: AccountClosedError,
	LG103: InsufficientFundsError,
	LG104: LimitExceededError,
	LG202: HoldAlreadyResolvedError,
	LG203: HoldAlreadyResolvedError,
	LG204: HoldAlreadyResolvedError,
	LG205: ValidationError,
	'22P02': ValidationError,		// invalid input syntax for type ledger.amount
	'22003': ValidationError,		// amount out of range
	'40001': ConcurrencyError,
	'40P01': ConcurrencyError,
	'55P03': ConcurrencyError,
};

/**
 * mapError - the application error for a PostgreSQL error: a class above for
 * the codes it names, ValidationError for the rest of LG0xx, LedgerError for
 * the rest of class LG; anything else (a lost connection, a permission
 * error) is returned as it is.
 */
export function mapError(err) {
	if (err instanceof LedgerError || typeof err?.code !== 'string')
		return err;
	const cls = ERROR_CLASSES[err.code] ??
		(err.code.startsWith('LG0') ? ValidationError :
		 err.code.startsWith('LG') ? LedgerError : null);
	return cls ? new cls(err) : err;
}

// ---------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------

const CONFLICT_CODES = new Set(['40001', '40P01', '55P03']);
const CONNECTION_CODES = new Set([
	'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
	'57P01', '57P02', '57P03',		// admin_shutdown, crash_shutdown, cannot_connect_now
]);

/** isConflict - a serialization failure, deadlock or lock timeout: the transaction rolled back. */
export function isConflict(err) {
	return CONFLICT_CODES.has(err?.code);
}

/** isConnectionError - the connection broke; whether the transaction committed may be unknown. */
export function isConnectionError(err) {
	const code = err?.code;
	if (typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08')))
		return true;
	return /Connection terminated|connection error|Client was closed|not queryable/i.test(err?.message ?? '');
}

const ISOLATION_LEVELS = new Set(['read committed', 'repeatable read', 'serializable']);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * withRetry - run fn(client, attempt) in a transaction on a client from the
 * pool, and run the whole transaction again while it fails transiently.
 *
 * A conflict (40001, 40P01, 55P03) always rolled the transaction back, so it
 * is always retried.  A broken connection is retried when it broke before
 * COMMIT was sent (nothing committed), and when it broke during COMMIT only
 * if the caller says fn is idempotent: then the outcome is unknown, and only
 * a replay with the same keys is safe.  attempt.afterConnectionError tells fn
 * that an earlier attempt may have committed.  Waits between attempts grow
 * exponentially, with full jitter so that conflicting clients spread out.
 * Throws the last error, mapped by mapError.
 */
export async function withRetry(pool, fn, {
	idempotent = false,
	isolation = null,			// 'repeatable read', 'serializable'; null: the server's default
	maxAttempts = 10,
	baseDelayMs = 5,
	maxDelayMs = 1000,
	onRetry = null,				// (err, attemptNumber) => void, for metrics
} = {}) {
	if (isolation !== null && !ISOLATION_LEVELS.has(isolation))
		throw new TypeError(`unknown isolation level ${JSON.stringify(isolation)}`);
	const attempt = { number: 0, afterConnectionError: false };
	for (;;) {
		attempt.number++;
		try {
			return await inTransaction(pool, isolation, (client) => fn(client, attempt));
		} catch (err) {
			const retryable = isConflict(err) ||
				(isConnectionError(err) && (idempotent || !err.commitUnknown));
			if (!retryable || attempt.number >= maxAttempts)
				throw mapError(err);
			if (isConnectionError(err))
				attempt.afterConnectionError = true;
			onRetry?.(err, attempt.number);
			const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt.number - 1));
			await sleep(Math.random() * cap);
		}
	}
}

// inTransaction - BEGIN, fn(client), COMMIT on one pooled client; a client
// whose connection broke is destroyed, not returned to the pool.  An error
// raised by COMMIT itself is marked commitUnknown.
async function inTransaction(pool, isolation, fn) {
	const client = await pool.connect();
	let broken = null;
	// A checked-out client whose connection dies between queries emits
	// 'error' with no listener of the pool's attached: without this one, the
	// process would crash.  The next query then fails and is retried.
	const onError = (err) => { broken = err; };
	client.on('error', onError);
	try {
		await client.query(isolation ? `BEGIN ISOLATION LEVEL ${isolation}` : 'BEGIN');
		let result;
		try {
			result = await fn(client);
		} catch (err) {
			await client.query('ROLLBACK').catch((e) => { broken = e; });
			throw err;
		}
		try {
			await client.query('COMMIT');
		} catch (err) {
			err.commitUnknown = isConnectionError(err);
			throw err;
		}
		return result;
	} catch (err) {
		if (isConnectionError(err))
			broken = err;
		throw err;
	} finally {
		client.removeListener('error', onError);
		client.release(broken ?? undefined);
	}
}

// ---------------------------------------------------------------------------
// The ledger
// ---------------------------------------------------------------------------

function requireKey(key) {
	if (typeof key !== 'string' || key.length === 0)
		throw new TypeError('an idempotency key (a non-empty string) is required');
	return key;
}

export class Ledger {
	/**
	 * new Ledger(poolOrConfig, options) - poolOrConfig is a pg.Pool or a
	 * pg.Pool config (connection settings default to the PG* environment
	 * variables).  options: isolation, maxAttempts, baseDelayMs, maxDelayMs,
	 * onRetry, as for withRetry.
	 */
	constructor(poolOrConfig = {}, options = {}) {
		this.ownsPool = !(poolOrConfig instanceof pg.Pool);
		this.pool = this.ownsPool ? new pg.Pool(poolOrConfig) : poolOrConfig;
		// A pooled client that loses its connection while idle emits 'error'
		// on the pool; unhandled, that would end the process.  A new client's
		// first answer can carry the server's goodbye too (57P01 in the same
		// read as ReadyForQuery), before inTransaction has a listener on it:
		// every client gets one of its own for its whole life.
		if (this.ownsPool) {
			this.pool.on('error', () => {});
			this.pool.on('connect', (client) => client.on('error', () => {}));
		}
		this.options = options;
	}

	/** withRetry(fn, options) - see the function withRetry; defaults from the Ledger's options. */
	withRetry(fn, options = {}) {
		return withRetry(this.pool, fn, { ...this.options, ...options });
	}

	// call - one ledger statement in its own retried transaction; the value
	// of its only column.
	async call(sql, params) {
		return this.withRetry(async (client) => {
			const { rows } = await client.query(sql, params);
			return rows[0]?.v;
		}, { idempotent: true });
	}

	async close() {
		if (this.ownsPool)
			await this.pool.end();
	}

	/**
	 * createAsset(code, scale) - an asset; idempotent: an asset of the same
	 * code and scale that already exists is fine.  Returns the code.
	 */
	async createAsset(code, scale) {
		return this.withRetry(async (client) => {
			await client.query('SAVEPOINT create_asset');
			try {
				const { rows } = await client.query('SELECT ledger.create_asset($1, $2) AS v', [code, scale]);
				return rows[0].v;
			} catch (err) {
				if (err.code !== 'LG007')
					throw err;
				await client.query('ROLLBACK TO SAVEPOINT create_asset');
				const { rows } = await client.query('SELECT scale FROM ledger.assets WHERE code = $1', [code]);
				if (rows[0]?.scale !== scale)
					throw err;
				return code;
			}
		}, { idempotent: true });
	}

	/**
	 * createAccount({ asset, name, normalBalance, minBalance, maxBalance,
	 * metadata }) - an account; the name is its idempotency key.  minBalance
	 * defaults to '0' (no overdraft), null means unbounded.  Returns the id
	 * (a string).
	 */
	async createAccount({ asset, name, normalBalance = 'credit', minBalance = '0', maxBalance = null, metadata = null }) {
		requireKey(name);
		const min = minBalance === null ? null : toAmount(minBalance, 'minBalance');
		const max = maxBalance === null ? null : toAmount(maxBalance, 'maxBalance');
		return this.withRetry(async (client, attempt) => {
			await client.query('SAVEPOINT create_account');
			try {
				const { rows } = await client.query(
					'SELECT ledger.create_account($1, $2, $3, $4::ledger.amount, $5::ledger.amount, $6::jsonb) AS v',
					[asset, name, normalBalance, min, max, metadata]);
				return rows[0].v;
			} catch (err) {
				// A replay of our own earlier attempt finds the name taken.
				if (err.code !== 'LG008' || !attempt.afterConnectionError)
					throw err;
				await client.query('ROLLBACK TO SAVEPOINT create_account');
				const { rows } = await client.query(
					'SELECT account_id, asset FROM ledger.account_balances WHERE name = $1', [name]);
				if (rows[0]?.asset !== asset)
					throw err;
				return rows[0].account_id;
			}
		}, { idempotent: true });
	}

	/** accountId(name) - the id of a named account. */
	async accountId(name) {
		return this.call('SELECT ledger.account_id($1) AS v', [name]);
	}

	/**
	 * transfer(from, to, amount, key, { description, metadata }) - move amount
	 * minor units from one wallet (debited) to another (credited).  Returns
	 * the transfer id; a replay of the key returns the same id.
	 */
	async transfer(from, to, amount, key, { description = null, metadata = null } = {}) {
		return this.call(
			'SELECT ledger.transfer($1, $2, $3::ledger.amount, $4, $5, $6::jsonb) AS v',
			[from, to, toAmount(amount), requireKey(key), description, metadata]);
	}

	/**
	 * deposit(fundingAccountId, walletId, amount, key, options) - money coming
	 * in: a transfer from a debit-normal funding account (cash at the bank,
	 * min_balance NULL) to the wallet.
	 */
	async deposit(fundingAccountId, walletId, amount, key, options = {}) {
		return this.transfer(fundingAccountId, walletId, amount, key, options);
	}

	/**
	 * hold(from, to, amount, key, { expiresAt, description, metadata }) -
	 * reserve amount for a later capture.  Returns the hold id.
	 */
	async hold(from, to, amount, key, { expiresAt = null, description = null, metadata = null } = {}) {
		return this.call(
			'SELECT ledger.hold($1, $2, $3::ledger.amount, $4::timestamptz, $5, $6, $7::jsonb) AS v',
			[from, to, toAmount(amount), expiresAt, requireKey(key), description, metadata]);
	}

	/**
	 * capture(holdId, amount, key) - post amount (null: all of it) of a hold
	 * and release the rest.  Returns the transfer id; a replay of the key
	 * returns the same id.
	 */
	async capture(holdId, amount, key) {
		return this.call(
			'SELECT ledger.capture($1, $2::ledger.amount, $3) AS v',
			[holdId, amount === null ? null : toAmount(amount), requireKey(key)]);
	}

	/**
	 * release(holdId) - cancel a hold.  The hold id is the key: when an
	 * earlier attempt may have committed, finding the hold released is success.
	 */
	async release(holdId) {
		await this.withRetry(async (client, attempt) => {
			await client.query('SAVEPOINT release');
			try {
				await client.query('SELECT ledger.release($1)', [holdId]);
			} catch (err) {
				if (err.code !== 'LG203' || !attempt.afterConnectionError)
					throw err;
				await client.query('ROLLBACK TO SAVEPOINT release');
			}
		}, { idempotent: true });
	}

	/**
	 * balance(accountId) - { posted, pendingDebits, pendingCredits, available }
	 * as BigInt, with the display forms of the view ledger.account_balances
	 * ("123.45 USD"), which an application role may read (docs/operations.md).
	 */
	async balance(accountId) {
		return this.withRetry(async (client) => {
			const { rows } = await client.query(
				`SELECT name, asset, posted, pending_debits, pending_credits, available,
				        posted_display, available_display, closed
				   FROM ledger.account_balances WHERE account_id = $1`, [accountId]);
			if (rows.length === 0)
				throw new NotFoundError({ code: 'LG004', message: `account ${accountId} does not exist` });
			const r = rows[0];
			return {
				name: r.name,
				asset: r.asset,
				posted: parseAmount(r.posted),
				pendingDebits: parseAmount(r.pending_debits),
				pendingCredits: parseAmount(r.pending_credits),
				available: parseAmount(r.available),
				postedDisplay: r.posted_display,
				availableDisplay: r.available_display,
				closed: r.closed,
			};
		}, { idempotent: true });
	}
}
