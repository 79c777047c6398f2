//! The incident's Alertmanager silence: created once when the operator
//! takes the incident, expired once when it closes. The silence id is
//! journaled (`silence:<incident>` in the effect log) so a crash between
//! "created" and "recorded" adopts the silence instead of making a second.

use super::incident::Incident;
use super::journal::{EffectEntry, Journal};
use crate::config::Config;
use crate::model::Millis;
use crate::sources::silences::{self, Matcher, Silences};

/// How long a silence holds before Alertmanager lifts it on its own
/// (medic expires it sooner when the incident closes).
pub const HOLD: Millis = 4 * 3_600_000;

/// The effect-log key of an incident's silence.
pub fn key(incident: &str) -> String {
    format!("silence:{incident}")
}

/// The comment medic writes on a silence; it names the incident.
pub fn comment(incident: &str, what: &str) -> String {
    format!("medic incident {incident}: {what} is being handled")
}

fn log(journal: &Journal, incident: &str, phase: &str, detail: &str) -> Result<(), String> {
    journal
        .log_effect(&EffectEntry {
            incident: incident.to_string(),
            key: key(incident),
            phase: phase.to_string(),
            detail: detail.to_string(),
            at: crate::sources::wall_now(),
        })
        .map_err(|e| e.to_string())
}

/// The silence recorded for `incident`: its id and whether it was expired.
pub fn recorded(journal: &Journal, incident: &str) -> Result<Option<(String, bool)>, String> {
    let mut out = None;
    for e in journal.effects(incident).map_err(|e| e.to_string())? {
        if e.key != key(incident) {
            continue;
        }
        match e.phase.as_str() {
            "performed" | "adopted" => out = Some((e.detail, false)),
            "expired" => {
                if let Some((_, gone)) = out.as_mut() {
                    *gone = true;
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Silence the incident's alerts (once); returns the silence id.
pub async fn take(
    journal: &Journal,
    am: &Silences,
    incident: &str,
    what: &str,
    matchers: &[Matcher],
    now: Millis,
) -> Result<String, String> {
    if let Some((id, _)) = recorded(journal, incident)? {
        return Ok(id);
    }
    let comment = comment(incident, what);
    let intended = journal
        .effects(incident)
        .map_err(|e| e.to_string())?
        .iter()
        .any(|e| e.key == key(incident) && e.phase == "intent");
    if intended {
        // A crash may have come after the POST: look before creating again.
        let mine = am.list().await?.into_iter().find(|s| {
            s.created_by == "medic" && s.comment == comment && s.status.state != "expired"
        });
        if let Some(s) = mine {
            log(journal, incident, "adopted", &s.id)?;
            return Ok(s.id);
        }
    }
    log(journal, incident, "intent", what)?;
    let id = am.create(matchers, &comment, now, now + HOLD).await?;
    log(journal, incident, "performed", &id)?;
    Ok(id)
}

/// Expire the incident's silence, if it has one and it is not expired yet.
pub async fn release(
    journal: &Journal,
    am: &Silences,
    incident: &str,
) -> Result<Option<String>, String> {
    match recorded(journal, incident)? {
        Some((id, false)) => {
            am.expire(&id).await?;
            log(journal, incident, "expired", &id)?;
            Ok(Some(id))
        }
        _ => Ok(None),
    }
}

/// With `[alertmanager] url`: silence the incident's alerts (`medic_rule`
/// or `alertname` = its rule, `service`) while it is open, expire the silence once it closes.
/// A failure is journaled as an effect (phase `failed`), never raised.
pub async fn follow(journal: &Journal, config: &Config, inc: &Incident) {
    let Some(url) = config.alertmanager.as_ref().and_then(|a| a.url.clone()) else {
        return;
    };
    let am = Silences::new(&url);
    let done = if inc.status.is_settled() {
        release(journal, &am, &inc.id).await.map(|_| ())
    } else {
        // Alerts that name medic's rule (label `medic_rule`) are matched by
        // it; any other alert by its name.
        let by = if config.rules().iter().any(|r| r.name == inc.rule) {
            crate::sources::alertmanager::RULE_LABEL
        } else {
            "alertname"
        };
        let labels = [(by, inc.rule.as_str()), ("service", inc.service.0.as_str())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let what = format!("{} {}", inc.service, inc.rule);
        let now = crate::sources::wall_now();
        take(
            journal,
            &am,
            &inc.id,
            &what,
            &silences::matchers(&labels),
            now,
        )
        .await
        .map(|_| ())
    };
    if let Err(e) = done {
        let _ = log(journal, &inc.id, "failed", &e);
    }
}
