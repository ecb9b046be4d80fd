//! The invitation message.

use chrono::{DateTime, Utc};

use super::OutgoingMail;
use crate::clock;

/// Builds the invitation to join `organization`, sent by `inviter`, with the registration
/// `link` and its expiry in UTC, both as a readable date and in RFC 3339.
///
/// Control characters in the organization and inviter names become spaces, so a name cannot
/// break the Subject line. The HTML part escapes every value.
pub fn invitation_mail(to: &str, organization: &str, inviter: &str, link: &str, expires_at: DateTime<Utc>) -> OutgoingMail {
    let organization = single_line(organization);
    let inviter = single_line(inviter);
    let expires_readable = expires_at.format("%A, %-d %B %Y at %H:%M UTC").to_string();
    let expires_rfc3339 = clock::format(expires_at);
    let subject = format!("{inviter} invited you to join {organization} on Hub");

    let text = format!(
        "Hello,\n\
         \n\
         {inviter} invited you to join {organization} on Hub.\n\
         \n\
         Open this link to register:\n\
         {link}\n\
         \n\
         The link expires on {expires_readable} ({expires_rfc3339}).\n\
         \n\
         If you did not expect this invitation, you can ignore this message.\n"
    );

    let html = format!(
        "<!DOCTYPE html>\n\
         <html lang=\"en\">\n\
         <head><meta charset=\"utf-8\"><title>{subject}</title></head>\n\
         <body>\n\
         <p>Hello,</p>\n\
         <p><strong>{inviter}</strong> invited you to join <strong>{organization}</strong> on Hub.</p>\n\
         <p><a href=\"{link}\">Register with {organization}</a></p>\n\
         <p>If the link above does not open, copy this address into your browser:<br>{link}</p>\n\
         <p>The link expires on {expires_readable} (<time datetime=\"{expires_rfc3339}\">{expires_rfc3339}</time>).</p>\n\
         <p>If you did not expect this invitation, you can ignore this message.</p>\n\
         </body>\n\
         </html>\n",
        subject = escape_html(&subject),
        inviter = escape_html(&inviter),
        organization = escape_html(&organization),
        link = escape_html(link),
    );

    OutgoingMail {
        to: to.to_string(),
        subject,
        text,
        html,
    }
}

fn single_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Escapes text for HTML element content and quoted attribute values.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}
