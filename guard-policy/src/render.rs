//! The effective policy as text (`guard-agent policy show`) and its version hash
//! (`policy show`, `status`, events). Both come from the compiled form, so two files that
//! compile to the same policy (other spellings, order of list entries, defaults written out
//! or not) render and hash the same.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::policy::Policy;

impl Policy {
    /// SHA-256 (lowercase hex, 64 characters) of the canonical compiled form: the policy
    /// as JSON with fields in schema order, context lists sorted, all eight intent classes
    /// present. Name resolution does not change it.
    #[must_use]
    pub fn version_hash(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&canonical);
        digest.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

/// The effective policy as YAML in the policy-file schema, with every default written
/// out, headed by comments giving its name and version hash. Loading the output gives back
/// the same policy.
#[must_use]
pub fn render(policy: &Policy) -> String {
    let mut out = format!(
        "# guard policy {:?}, compiled (every default written out)\n# version: sha256:{}\n",
        policy.name(),
        policy.version_hash()
    );
    match serde_saphyr::to_string(policy) {
        Ok(yaml) => out.push_str(&yaml),
        Err(e) => {
            let _ = writeln!(out, "# cannot render: {e}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{builtin, load_str};

    #[test]
    fn rendering_loads_back_as_the_same_policy() {
        for p in [builtin(), load_str(crate::tests::FULL, "full.yaml").unwrap()] {
            let text = render(&p);
            let back = load_str(&text, "rendered.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(back, p, "{text}");
            assert!(text.contains(&p.version_hash()));
        }
    }

    #[test]
    fn awkward_strings_survive_the_round_trip() {
        let text = r##"version: 1
name: "a: b # c"
identities:
  - {name: "- x", mode: audit, match: {users: ["1001", "null", "true"], systemd_units: ["*"]}}
trusted_destinations: ["::1", "*", "'q'", "a\"b", "[x]"]
intents:
  schema_destroy: {action: hold, except: ["DROP TABLE \"x\"", "a: b", "#x", "\\*"]}
"##;
        let p = load_str(text, "awkward.yaml").unwrap();
        let out = render(&p);
        assert_eq!(load_str(&out, "rendered.yaml").unwrap_or_else(|e| panic!("{e}\n{out}")), p);
    }

    #[test]
    fn hash_is_stable_and_canonical() {
        let a = load_str("version: 1\nname: h\nprotected_paths: [/srv, /etc/]\n", "a").unwrap();
        let b = load_str("version: 1\nname: h\ndefault_mode: enforce\nprotected_paths: [//etc, /srv]\nintents: {bulk_delete: {action: deny}}\n", "b").unwrap();
        assert_eq!(a.version_hash(), b.version_hash());
        assert_eq!(a.version_hash().len(), 64);
        let c = load_str("version: 1\nname: h\nprotected_paths: [/srv]\n", "c").unwrap();
        assert_ne!(a.version_hash(), c.version_hash());
    }

    #[test]
    fn rendering_is_readable_yaml() {
        let text = render(&builtin());
        assert!(text.starts_with("# guard policy \"builtin\""), "{text}");
        assert!(text.contains("default_mode: enforce"), "{text}");
        assert!(text.contains("bulk_delete:"), "{text}");
        assert!(text.contains("deadline_ms: 2000"), "{text}");
    }
}
