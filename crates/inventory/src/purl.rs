//! Package URLs: built for every collected package, parsed for every SBOM component.

use std::str::FromStr;

use packageurl::PackageUrl;

use crate::error::ParseError;
use crate::os_release::distro_ecosystem;
use crate::package::{Ecosystem, Manager, Package};

/// Builds a purl string; `field` names the input field blamed when the parts are unusable.
pub(crate) fn build(
    ty: &str,
    namespace: Option<&str>,
    name: &str,
    version: &str,
    qualifiers: &[(&str, &str)],
) -> Result<String, ParseError> {
    let bad = |e: packageurl::Error| {
        ParseError::field("name", format!("no package URL can be made: {e}"))
    };
    let mut purl = PackageUrl::new(ty, name).map_err(bad)?;
    if let Some(ns) = namespace.filter(|ns| !ns.is_empty()) {
        purl.with_namespace(ns).map_err(bad)?;
    }
    if !version.is_empty() {
        purl.with_version(version).map_err(bad)?;
    }
    for (k, v) in qualifiers.iter().filter(|(_, v)| !v.is_empty()) {
        purl.add_qualifier(*k, *v).map_err(bad)?;
    }
    Ok(purl.to_string())
}

/// Turns an SBOM component's purl into a package. The error is the reason it was skipped.
pub fn package_from_purl(purl: &str, manager: Manager, location: &str) -> Result<Package, String> {
    let parsed = PackageUrl::from_str(purl).map_err(|e| format!("invalid purl: {e}"))?;
    let version = parsed
        .version()
        .filter(|v| !v.is_empty())
        .ok_or("purl has no version")?
        .to_owned();
    let ns = parsed.namespace().filter(|ns| !ns.is_empty());
    let plain = parsed.name().to_owned();
    let joined = |sep: &str| match ns {
        Some(ns) => format!("{ns}{sep}{plain}"),
        None => plain.clone(),
    };
    let qualifier = |key: &str| {
        parsed
            .qualifiers()
            .iter()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v.to_string())
    };
    let (ecosystem, name) = match parsed.ty() {
        "npm" => (Ecosystem::NPM, joined("/")),
        "pypi" => (Ecosystem::PYPI, plain.clone()),
        "cargo" => (Ecosystem::CRATES_IO, plain.clone()),
        "golang" => (Ecosystem::GO, joined("/")),
        "maven" => (Ecosystem::MAVEN, joined(":")),
        "gem" => (Ecosystem::RUBYGEMS, plain.clone()),
        "composer" => (Ecosystem::PACKAGIST, joined("/")),
        "nuget" => (Ecosystem::NUGET, plain.clone()),
        "hex" => (Ecosystem::HEX, plain.clone()),
        "pub" => (Ecosystem::PUB, plain.clone()),
        "deb" | "apk" | "rpm" => {
            let distro = qualifier("distro");
            let eco = distro_ecosystem(parsed.ty(), ns, distro.as_deref()).ok_or_else(|| {
                format!(
                    "no OSV ecosystem known for {} namespace {ns:?}",
                    parsed.ty()
                )
            })?;
            (eco, plain.clone())
        }
        other => return Err(format!("purl type `{other}` has no OSV ecosystem")),
    };
    let mut package = Package::new(ecosystem, name, version, purl.to_owned(), manager, location);
    package.arch = qualifier("arch");
    Ok(package)
}
