//! The login and consent pages: plain HTML forms that work without JavaScript, with labels, a sensible focus
//! order, and a little CSS.

use oauth2_core::html::escape as html_escape;

use super::sessions::Pending;

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;background:#f4f5f7;color:#1f2328;margin:0}
main{max-width:26rem;margin:4rem auto;background:#fff;border:1px solid #d0d7de;border-radius:12px;padding:2rem}
h1{font-size:1.4rem;margin:0 0 .5rem}p{line-height:1.5}label{display:block;font-weight:600;margin:1rem 0 .3rem}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #8c959f;
border-radius:6px;font-size:1rem}input:focus,button:focus{outline:3px solid #0969da;outline-offset:2px}
button{font-size:1rem;padding:.6rem 1.2rem;border-radius:6px;border:1px solid #8c959f;background:#f6f8fa;
cursor:pointer;margin-top:1.2rem}button.primary{background:#1f883d;border-color:#1a7f37;color:#fff}
ul{padding-left:1.2rem}li{margin:.3rem 0}.error{color:#cf222e;font-weight:600}.client{font-weight:700}
.muted{color:#59636e;font-size:.9rem}.actions{display:flex;gap:.8rem}
";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        title = html_escape(title)
    )
}

fn client_name(request: &Pending) -> String {
    html_escape(request.client_name())
}

/// A scope in plain words.
fn describe_scope(scope: &str) -> String {
    match scope {
        "profile" => "See your name and username".into(),
        "read" => "Read your data".into(),
        "write" => "Change your data".into(),
        "email" => "See your email address".into(),
        "openid" => "Confirm who you are".into(),
        other => format!("Use the “{}” permission", html_escape(other)),
    }
}

/// The login page; `sealed` is the request it is for, as the form carries it.
pub(super) fn login(request: &Pending, sealed: &str, csrf: &str, error: Option<&str>) -> String {
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", html_escape(e))).unwrap_or_default();
    page(
        "Sign in",
        &format!(
            "<h1>Sign in</h1><p>to continue to <span class=\"client\">{client}</span></p>{error}\
             <form method=\"post\" action=\"/login\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"request\" value=\"{rid}\">\
             <label for=\"username\">Username</label>\
             <input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
             <label for=\"password\">Password</label>\
             <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\" class=\"primary\">Sign in</button></form>",
            client = client_name(request),
            csrf = html_escape(csrf),
            rid = html_escape(sealed),
        ),
    )
}

/// The consent page: names the client and each scope in plain words; Allow or Deny.
pub(super) fn consent(request: &Pending, user: &str, rid: &str, csrf: &str) -> String {
    let scopes: String = if request.scope().is_empty() {
        "<li>Know that you have an account here</li>".into()
    } else {
        request
            .scope()
            .iter()
            .map(|s| format!("<li>{} <span class=\"muted\">({})</span></li>", describe_scope(s), html_escape(s)))
            .collect()
    };
    page(
        "Allow access?",
        &format!(
            "<h1>Allow access?</h1><p>Signed in as <strong>{user}</strong>.</p>\
             <p><span class=\"client\">{client}</span> wants to:</p><ul>{scopes}</ul>\
             <form method=\"post\" action=\"/consent\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"request\" value=\"{rid}\">\
             <div class=\"actions\"><button type=\"submit\" name=\"decision\" value=\"allow\" class=\"primary\" autofocus>Allow</button>\
             <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></div></form>\
             <p class=\"muted\">{next}</p>",
            user = html_escape(user),
            client = client_name(request),
            csrf = html_escape(csrf),
            rid = html_escape(rid),
            next = match request {
                Pending::Authorize(r) => format!(
                    "You will be sent back to {}.",
                    html_escape(
                        url::Url::parse(&r.redirect_uri)
                            .map(|u| u.origin().ascii_serialization())
                            .unwrap_or_default()
                            .as_str()
                    )
                ),
                // RFC 8628 §5.4: the user checks that the code is the one their device shows.
                Pending::Device(r) => format!(
                    "This is for the device showing the code <strong>{}</strong>. Allow it only if you started \
                     the sign-in on that device yourself.",
                    html_escape(&r.display_user_code())
                ),
            },
        ),
    )
}

/// The device page (RFC 8628 §3.3): the user code form, filled in with `user_code` (from the query), with an
/// error above it when the last code was wrong or the entries are throttled.
pub(super) fn device(user_code: &str, csrf: &str, error: Option<&str>) -> String {
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", html_escape(e))).unwrap_or_default();
    page(
        "Connect a device",
        &format!(
            "<h1>Connect a device</h1><p>Enter the code your device shows.</p>{error}\
             <form method=\"post\" action=\"/device\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label for=\"user_code\">Code</label>\
             <input type=\"text\" id=\"user_code\" name=\"user_code\" value=\"{code}\" autocomplete=\"off\" \
             autocapitalize=\"characters\" spellcheck=\"false\" placeholder=\"XXXX-XXXX\" maxlength=\"64\" required autofocus>\
             <button type=\"submit\" class=\"primary\">Continue</button></form>",
            csrf = html_escape(csrf),
            code = html_escape(user_code),
        ),
    )
}

/// A short message page.
pub(super) fn message(title: &str, text: &str) -> String {
    page(title, &format!("<h1>{}</h1><p>{}</p>", html_escape(title), html_escape(text)))
}
