//! New addresses for people, by their domain's naming rule (KT-4 or a template): used when a
//! person is added, hired, transferred or imported without an address.

use anyhow::bail;
use storage::Store;

/// The first free address by the domain's naming rule (KT-4 or a template), skipping
/// reserved names and numbering collisions.
pub(crate) async fn generated_address(
    store: &Store,
    full_name: &str,
    unit: &storage::Unit,
) -> anyhow::Result<String> {
    let domain = store.domain(&unit.domain).await?;
    let rule =
        policy::naming::NamingRule::parse(&domain.naming_rule).map_err(anyhow::Error::msg)?;
    let Some(stem) = rule.person_local(full_name, &unit.abbrev) else {
        bail!(
            "domain {} uses free naming (BD-5): give --address",
            domain.name
        );
    };
    for local in policy::naming::candidates(&stem).take(1000) {
        let address = format!("{local}@{}", unit.domain);
        if matches!(store.resolve(&address).await?, storage::Resolved::Unknown) {
            return Ok(address);
        }
    }
    bail!("could not generate a free address for {full_name:?}");
}
