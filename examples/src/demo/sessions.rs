//! What the demo's pages remember, and for how long.
//!
//! - **Before login, nothing.** The validated authorization request travels in the login form, sealed with an HMAC
//!   of a key this process made at start, with the time it was validated and the hash of the browser's CSRF cookie.
//!   Anonymous traffic (any number of `GET /authorize`) costs no memory, and cannot evict anyone.
//! - **After a login, one entry per login,** bound to the one request it was made for: the user, the request, a
//!   fresh CSRF token for the consent form. Consent (allow or deny) ends it; so does time. The table is bounded by
//!   count and by bytes; only logins with the right password can fill it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use oauth2_core::Scope;
use oauth2_core::server::{AuthorizationRequest, DeviceRequest, OsTokenGenerator, TokenGenerator};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a login form, and a login waiting for consent, stay good.
pub(crate) const LIFETIME: Duration = Duration::from_secs(600);
/// Logins waiting for consent kept at most, by count and by bytes; the oldest go first past either.
const MAX_LOGINS: usize = 10_000;
/// Logins one user may have waiting at once: logging in again and again (the demo's passwords are public) drops
/// that user's own oldest, never other users'.
const MAX_LOGINS_PER_USER: usize = 4;
const MAX_LOGIN_BYTES: usize = 16 * 1024 * 1024;

/// What a user is logging in for: an authorization request (`/authorize`), or a device's (`/device`, RFC 8628).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// One per login form or login; the device request is the smaller one.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Pending {
    /// A validated authorization request: the answer goes back to its redirect URI.
    Authorize(AuthorizationRequest),
    /// A device authorization waiting for this user: the answer goes to the device's next poll.
    Device(DeviceRequest),
}

impl Pending {
    /// The client asking.
    pub(crate) fn client_id(&self) -> &str {
        match self {
            Self::Authorize(r) => &r.client_id,
            Self::Device(r) => &r.client_id,
        }
    }

    /// The client's display name, else its id.
    pub(crate) fn client_name(&self) -> &str {
        match self {
            Self::Authorize(r) => r.client_name.as_deref().unwrap_or(&r.client_id),
            Self::Device(r) => r.client_name.as_deref().unwrap_or(&r.client_id),
        }
    }

    /// The scope asked for.
    pub(crate) fn scope(&self) -> &Scope {
        match self {
            Self::Authorize(r) => &r.scope,
            Self::Device(r) => &r.scope,
        }
    }

    /// What it costs to keep, roughly.
    fn bytes(&self) -> usize {
        let scope = self.scope().iter().map(|s| s.len() + 24).sum::<usize>();
        let rest = match self {
            Self::Authorize(r) => {
                r.redirect_uri.len()
                    + r.state.as_ref().map_or(0, String::len)
                    + r.code_challenge.as_ref().map_or(0, |c| c.as_str().len())
                    + r.nonce.as_ref().map_or(0, String::len)
                    + r.login_hint.as_ref().map_or(0, String::len)
                    + r.resources.iter().map(String::len).sum::<usize>()
            }
            Self::Device(r) => r.user_code.len() + r.resources.iter().map(String::len).sum::<usize>(),
        };
        self.client_id().len() + self.client_name().len() + scope + rest
    }
}

/// What a login form carries, sealed.
#[derive(Serialize, Deserialize)]
struct Sealed {
    /// The validated request.
    r: Pending,
    /// When it was validated, in Unix seconds.
    t: u64,
    /// SHA-256 of the CSRF cookie of the browser it was shown to, base64url.
    c: String,
    /// A random id, spent when the request gets its answer: a form cannot be submitted again after consent.
    n: String,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn csrf_hash(csrf: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(csrf.as_bytes()))
}

/// Seals and opens login forms with this process's key.
pub(crate) struct Sealer {
    key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// A sealer with a fresh random key: forms sealed by another process (or before a restart) do not open.
    pub(crate) fn new() -> Self {
        let mut key = [0u8; 32];
        OsTokenGenerator.fill_bytes(&mut key);
        Self { key }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        Hmac::<Sha256>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }

    /// `request`, validated at `now` for the browser whose CSRF cookie is `csrf`, as a form value.
    pub(crate) fn seal(&self, request: &Pending, csrf: &str, now: SystemTime) -> String {
        let sealed = Sealed { r: request.clone(), t: unix(now), c: csrf_hash(csrf), n: OsTokenGenerator.generate() };
        let body = serde_json::to_vec(&sealed).unwrap_or_default();
        let mut mac = self.mac();
        mac.update(&body);
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&body), URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// The request of a sealed form value and its id, if this process sealed it for the browser with CSRF cookie
    /// `csrf` less than [`LIFETIME`] before `now`.
    pub(crate) fn open(&self, sealed: &str, csrf: &str, now: SystemTime) -> Option<(Pending, String)> {
        let (body, tag) = sealed.split_once('.')?;
        let body = URL_SAFE_NO_PAD.decode(body).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac();
        mac.update(&body);
        mac.verify_slice(&tag).ok()?;
        let sealed: Sealed = serde_json::from_slice(&body).ok()?;
        let age = unix(now).checked_sub(sealed.t)?;
        let same_browser = bool::from(subtle::ConstantTimeEq::ct_eq(sealed.c.as_bytes(), csrf_hash(csrf).as_bytes()));
        (age < LIFETIME.as_secs() && same_browser).then_some((sealed.r, sealed.n))
    }
}

/// A login waiting for the user's consent to the one request it was made for.
#[derive(Debug, Clone)]
pub(crate) struct Login {
    pub(crate) username: String,
    pub(crate) display_name: String,
    pub(crate) request: Pending,
    /// The token of the consent form.
    pub(crate) csrf: String,
    /// The request's id in the consent form.
    pub(crate) rid: String,
    /// The sealed form's id, spent at consent.
    pub(crate) form: String,
    pub(crate) at: SystemTime,
}

impl Login {
    /// What the entry costs, roughly: its strings and the request's.
    fn bytes(&self) -> usize {
        256 + self.username.len() + self.display_name.len() + self.csrf.len() + self.rid.len() + self.request.bytes()
    }
}

/// The logins waiting for consent, by session id: bounded and expiring; and the ids of the forms already
/// answered, until they would have expired anyway.
#[derive(Debug, Default)]
pub(crate) struct Logins {
    table: Mutex<(HashMap<String, Login>, usize)>,
    spent: Mutex<HashMap<String, SystemTime>>,
}

impl Logins {
    /// Keeps `login` under a new session id, and returns the id.
    pub(crate) fn insert(&self, login: Login, now: SystemTime) -> String {
        let id = OsTokenGenerator.generate();
        let mut guard = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let (table, bytes) = &mut *guard;
        let size = login.bytes();
        let mut own: Vec<(SystemTime, String)> =
            table.iter().filter(|(_, l)| l.username == login.username).map(|(k, l)| (l.at, k.clone())).collect();
        if own.len() >= MAX_LOGINS_PER_USER {
            own.sort();
            for (_, k) in &own[..=own.len() - MAX_LOGINS_PER_USER] {
                if let Some(old) = table.remove(k) {
                    *bytes = bytes.saturating_sub(old.bytes());
                }
            }
        }
        if table.len() >= MAX_LOGINS || *bytes + size > MAX_LOGIN_BYTES {
            // Expired logins go first; if that is not enough, the oldest, down to half the budget, so the sort
            // here is paid for by as many inserts as it frees room for.
            table.retain(|_, l| l.at + LIFETIME > now);
            let mut total: usize = table.values().map(Login::bytes).sum();
            if table.len() >= MAX_LOGINS || total + size > MAX_LOGIN_BYTES {
                let mut by_age: Vec<(SystemTime, String)> = table.iter().map(|(k, l)| (l.at, k.clone())).collect();
                by_age.sort();
                for (_, k) in by_age {
                    if table.len() < MAX_LOGINS / 2 && total + size <= MAX_LOGIN_BYTES / 2 {
                        break;
                    }
                    if let Some(old) = table.remove(&k) {
                        total -= old.bytes();
                    }
                }
            }
            *bytes = total;
        }
        *bytes += size;
        table.insert(id.clone(), login);
        id
    }

    /// The login of session `id`, if it is still good at `now`.
    pub(crate) fn get(&self, id: &str, now: SystemTime) -> Option<Login> {
        let guard = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        guard.0.get(id).filter(|l| l.at + LIFETIME > now).cloned()
    }

    /// Ends the login of session `id` (consent was given or refused): its authority is spent, and so is the form
    /// it came from.
    pub(crate) fn remove(&self, id: &str, now: SystemTime) -> Option<Login> {
        let mut guard = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let (table, bytes) = &mut *guard;
        let login = table.remove(id)?;
        *bytes = bytes.saturating_sub(login.bytes());
        drop(guard);
        let mut spent = self.spent.lock().unwrap_or_else(PoisonError::into_inner);
        if spent.len() >= MAX_LOGINS {
            spent.retain(|_, until| *until > now);
        }
        // Bounded: entries come only from consents, one per login, and a full table of unexpired ones waits.
        if spent.len() < 2 * MAX_LOGINS {
            spent.insert(login.form.clone(), login.at + LIFETIME);
        }
        Some(login)
    }

    /// Whether the form with id `form` has had its answer.
    pub(crate) fn is_spent(&self, form: &str) -> bool {
        self.spent.lock().unwrap_or_else(PoisonError::into_inner).contains_key(form)
    }

    /// How many logins and bytes are kept (for tests).
    #[cfg(test)]
    pub(crate) fn size(&self) -> (usize, usize) {
        let guard = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        (guard.0.len(), guard.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oauth2_core::grant::GrantType;
    use oauth2_core::server::{AuthorizationServer, MemoryStore, RegisteredClient, ServerConfig};

    fn request(state: &str) -> Pending {
        let store = MemoryStore::new();
        store.add_client(
            RegisteredClient::confidential("web", "s")
                .redirect_uris(["https://app.example/cb"])
                .grant_types([GrantType::AuthorizationCode])
                .scopes("read"),
        );
        let server = AuthorizationServer::new(ServerConfig::new("http://127.0.0.1:9"), store, OsTokenGenerator);
        let q = format!("response_type=code&client_id=web&state={state}");
        Pending::Authorize(
            futures_util::FutureExt::now_or_never(server.authorization_request(&q, SystemTime::now()))
                .unwrap()
                .unwrap(),
        )
    }

    #[test]
    fn a_sealed_form_opens_only_here_for_its_browser_within_its_lifetime() {
        let (sealer, now) = (Sealer::new(), SystemTime::now());
        let r = request("xyz");
        let sealed = sealer.seal(&r, "csrf-a", now);
        assert_eq!(sealer.open(&sealed, "csrf-a", now + Duration::from_secs(599)).map(|(r, _)| r), Some(r));
        assert!(sealer.open(&sealed, "csrf-b", now).is_none(), "another browser's cookie");
        assert!(sealer.open(&sealed, "csrf-a", now + LIFETIME).is_none(), "expired after 10 minutes");
        assert!(Sealer::new().open(&sealed, "csrf-a", now).is_none(), "another process (or a restart)");
        let (body, tag) = sealed.split_once('.').unwrap();
        let edited = String::from_utf8(URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap().replace("xyz", "xyw");
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(edited));
        assert!(sealer.open(&forged, "csrf-a", now).is_none(), "an edited body");
        assert!(sealer.open("garbage", "csrf-a", now).is_none());
    }

    #[test]
    fn logins_are_bounded_by_bytes_and_expire() {
        let logins = Logins::default();
        let now = SystemTime::now();
        let big = request(&"s".repeat(2048));
        let login = |i: u64| Login {
            username: format!("user{}", i % 10_000),
            display_name: "Alice".into(),
            request: big.clone(),
            csrf: "c".repeat(43),
            rid: "r".repeat(22),
            form: format!("f{i}"),
            at: now + Duration::from_millis(i),
        };
        let mut first = String::new();
        for i in 0..20_000 {
            let id = logins.insert(login(i), now + Duration::from_millis(i));
            if i == 0 {
                first = id;
            }
        }
        let (count, bytes) = logins.size();
        assert!(count <= MAX_LOGINS && bytes <= MAX_LOGIN_BYTES, "{count} logins, {bytes} bytes");
        assert!(logins.get(&first, now).is_none(), "the oldest went first");
        let id = logins.insert(login(0), now);
        assert!(logins.get(&id, now + Duration::from_secs(599)).is_some());
        assert!(logins.get(&id, now + LIFETIME).is_none(), "a login expires after 10 minutes");
        assert!(logins.remove(&id, now).is_some() && logins.remove(&id, now).is_none(), "consent spends it once");
        assert!(logins.is_spent("f0") && !logins.is_spent("f1"), "and spends the form it came from");
    }

    #[test]
    fn one_user_logging_in_again_and_again_drops_only_their_own_logins() {
        let logins = Logins::default();
        let now = SystemTime::now();
        let login = |user: &str, i: u64| Login {
            username: user.into(),
            display_name: user.into(),
            request: request("s"),
            csrf: "c".into(),
            rid: "r".into(),
            form: format!("{user}{i}"),
            at: now + Duration::from_millis(i),
        };
        let bob = logins.insert(login("bob", 0), now);
        let mut alices = Vec::new();
        for i in 1..=10_000 {
            alices.push(logins.insert(login("alice", i), now));
        }
        assert!(logins.get(&bob, now).is_some(), "another user's login is kept");
        assert_eq!(logins.size().0, 1 + MAX_LOGINS_PER_USER);
        assert!(logins.get(alices.last().unwrap(), now).is_some() && logins.get(&alices[0], now).is_none());
    }
}
