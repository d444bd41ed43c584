//! The kubeconfig clients read: one cluster (server + certificate-authority-data), one user with
//! a bearer token, context `atrest-test`, current-context set. Strings are written as JSON
//! strings, which YAML reads as double-quoted scalars.

use base64::Engine;

pub(super) const CONTEXT: &str = "atrest-test";

pub(super) fn render(server: &str, ca_pem: &str, token: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {CONTEXT}
  user:
    token: {token}
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {CONTEXT}
    namespace: default
current-context: {CONTEXT}
preferences: {{}}
",
        server = q(server),
        token = q(token),
    )
}
