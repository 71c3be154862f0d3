//! What the dashboard reads: findings with filters, one vulnerability with the organization's
//! affected assets, and the organization's summary.

use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use zerotrace_store::findings::{Finding, FindingFilter, FindingStatus, Severity};
use zerotrace_store::{AssetId, FindingId, Page};

use crate::auth::{OrgAccess, Read};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::{Ids, Paged, timestamp};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_findings))
        .routes(routes!(get_finding))
        .routes(routes!(get_vulnerability))
        .routes(routes!(summary))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct FindingView {
    id: Uuid,
    asset_id: Uuid,
    vulnerability_id: String,
    ecosystem: String,
    package_name: String,
    package_version: String,
    fixed_version: Option<String>,
    /// `critical`, `high`, `medium`, `low`, `none` or `unknown`.
    severity: String,
    cvss_score: Option<f64>,
    known_exploited: bool,
    epss_score: Option<f64>,
    /// `open`, `fixed` or `ignored`.
    status: String,
    /// `distro-exact`, `ecosystem-exact`, `cpe-vendor-product` or `cpe-heuristic`.
    confidence: String,
    /// Why it applies, in one line.
    reason: String,
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    first_seen_at: OffsetDateTime,
    #[serde(with = "timestamp::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    fixed_at: Option<OffsetDateTime>,
    reopened_count: i64,
}

impl From<Finding> for FindingView {
    fn from(finding: Finding) -> Self {
        FindingView {
            id: finding.id.0,
            asset_id: finding.asset_id.0,
            vulnerability_id: finding.vulnerability_id,
            ecosystem: finding.ecosystem,
            package_name: finding.package_name,
            package_version: finding.package_version,
            fixed_version: finding.fixed_version,
            severity: finding.severity.to_string(),
            cvss_score: finding.cvss_score,
            known_exploited: finding.known_exploited,
            epss_score: finding.epss_score,
            status: finding.status.to_string(),
            confidence: finding.confidence,
            reason: finding.reason,
            first_seen_at: finding.first_seen_at,
            fixed_at: finding.fixed_at,
            reopened_count: finding.reopened_count,
        }
    }
}

/// Filters of `GET /api/v1/findings`; every one given narrows the list.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct FindingQuery {
    /// Comma-separated severities, e.g. `critical,high`.
    severity: Option<String>,
    /// Only known exploited (CISA KEV) or only not.
    kev: Option<bool>,
    /// Minimum EPSS score, 0 to 1.
    epss_min: Option<f64>,
    /// Only with a fixed version available, or only without.
    fixable: Option<bool>,
    /// `open` (default), `fixed`, `ignored` or `all`.
    status: Option<String>,
    asset_id: Option<Uuid>,
    /// Exact package name.
    package: Option<String>,
    /// Substring of the vulnerability id or package name (case-insensitive).
    q: Option<String>,
    /// Rows per page, 1-500 (default 100).
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<Uuid>,
}

/// The longest free-text or package filter accepted.
const MAX_FILTER_TEXT: usize = 256;

impl FindingQuery {
    fn filter(&self) -> Result<FindingFilter, ApiError> {
        let severities = match &self.severity {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|s| s.trim().parse::<Severity>())
                .collect::<Result<_, _>>()
                .map_err(|e| ApiError::invalid_request(format!("severity: {e}")))?,
        };
        let status = match self.status.as_deref() {
            None => Some(FindingStatus::Open),
            Some("all") => None,
            Some(status) => Some(
                status
                    .parse::<FindingStatus>()
                    .map_err(|e| ApiError::invalid_request(format!("status: {e} or all")))?,
            ),
        };
        if let Some(epss) = self.epss_min
            && !(0.0..=1.0).contains(&epss)
        {
            return Err(ApiError::invalid_request(
                "epss_min: must be between 0 and 1",
            ));
        }
        for (field, value) in [("package", &self.package), ("q", &self.q)] {
            if value
                .as_ref()
                .is_some_and(|v| v.chars().count() > MAX_FILTER_TEXT)
            {
                return Err(ApiError::invalid_request(format!(
                    "{field}: must be at most {MAX_FILTER_TEXT} characters"
                )));
            }
        }
        Ok(FindingFilter {
            severities,
            known_exploited: self.kev,
            epss_min: self.epss_min,
            fixable: self.fixable,
            status,
            asset_id: self.asset_id.map(AssetId),
            vulnerability_id: None,
            package: self.package.clone(),
            text: self.q.clone().filter(|q| !q.trim().is_empty()),
        })
    }

    fn page(&self) -> Page {
        Page {
            after: self.cursor,
            limit: self.limit.unwrap_or(100).clamp(1, Page::MAX_LIMIT),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for FindingQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<FindingQuery>::from_request_parts(parts, state)
            .await
            .map(|Query(query)| query)
            .map_err(|rejection| ApiError::invalid_request(rejection.body_text()))
    }
}

/// The organization's findings, oldest first; open ones unless `status` says otherwise.
#[utoipa::path(get, path = "/api/v1/findings", tag = "findings", security(("bearer" = [])), params(FindingQuery),
    responses((status = 200, body = Paged<FindingView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_findings(
    State(state): State<AppState>,
    access: OrgAccess<Read>,
    query: FindingQuery,
) -> ApiResult<Json<Paged<FindingView>>> {
    let filter = query.filter()?;
    let page = query.page();
    let findings = state
        .store
        .list_findings(access.scope, &filter, page)
        .await?;
    Ok(Json(Paged::new(
        findings,
        page,
        |f| f.id.0,
        FindingView::from,
    )))
}

/// One finding.
#[utoipa::path(get, path = "/api/v1/findings/{finding_id}", tag = "findings", security(("bearer" = [])),
    params(("finding_id" = Uuid, Path)),
    responses((status = 200, body = FindingView), (status = 404, body = ErrorBody)))]
async fn get_finding(
    State(state): State<AppState>,
    access: OrgAccess<Read>,
    Ids(finding_id): Ids<Uuid>,
) -> ApiResult<Json<FindingView>> {
    state
        .store
        .get_finding(access.scope, FindingId(finding_id))
        .await?
        .map(|f| Json(f.into()))
        .ok_or_else(|| ApiError::not_found("finding"))
}

#[derive(Serialize, ToSchema)]
struct VulnerabilityView {
    /// The primary id (a CVE when there is one).
    id: String,
    aliases: Vec<String>,
    summary: Option<String>,
    severity: Option<String>,
    known_exploited: bool,
    epss_score: Option<f64>,
    /// The advisories that describe it, from every source.
    advisories: Vec<String>,
    /// This organization's findings of it (open and fixed), up to 500.
    findings: Vec<FindingView>,
}

/// One vulnerability, by any of its ids or aliases, with the organization's affected assets.
#[utoipa::path(get, path = "/api/v1/vulnerabilities/{vulnerability_id}", tag = "findings", security(("bearer" = [])),
    params(("vulnerability_id" = String, Path, description = "CVE, GHSA, OSV or distribution advisory id")),
    responses((status = 200, body = VulnerabilityView), (status = 404, body = ErrorBody)))]
async fn get_vulnerability(
    State(state): State<AppState>,
    access: OrgAccess<Read>,
    Ids(vulnerability_id): Ids<String>,
) -> ApiResult<Json<VulnerabilityView>> {
    if vulnerability_id.len() > 200 {
        return Err(ApiError::invalid_request(
            "vulnerability_id: must be at most 200 characters",
        ));
    }
    let kb = state.knowledge.loaded();
    let known = kb.as_ref().and_then(|kb| {
        kb.show(&vulnerability_id).map(|view| {
            let vulnerability = view.vulnerability;
            VulnerabilityView {
                id: vulnerability.id.to_string(),
                aliases: vulnerability
                    .aliases
                    .iter()
                    .map(|a| a.to_string())
                    .collect(),
                summary: Some(vulnerability.summary.clone()).filter(|s| !s.is_empty()),
                severity: vulnerability.severity.level.map(|l| l.as_str().to_owned()),
                known_exploited: view.kev.is_some(),
                epss_score: view.epss.map(|e| f64::from(e.score)),
                advisories: view.advisories.iter().map(|a| a.id.clone()).collect(),
                findings: Vec::new(),
            }
        })
    });
    let mut view = known.unwrap_or_else(|| VulnerabilityView {
        id: vulnerability_id.clone(),
        aliases: Vec::new(),
        summary: None,
        severity: None,
        known_exploited: false,
        epss_score: None,
        advisories: Vec::new(),
        findings: Vec::new(),
    });
    let filter = FindingFilter {
        vulnerability_id: Some(view.id.clone()),
        ..FindingFilter::default()
    };
    view.findings = state
        .store
        .list_findings(access.scope, &filter, Page::first(Page::MAX_LIMIT))
        .await?
        .into_iter()
        .map(FindingView::from)
        .collect();
    if kb.is_some_and(|kb| kb.show(&vulnerability_id).is_none()) && view.findings.is_empty() {
        return Err(ApiError::not_found("vulnerability"));
    }
    Ok(Json(view))
}

#[derive(Serialize, ToSchema)]
struct SeverityCounts {
    critical: i64,
    high: i64,
    medium: i64,
    low: i64,
    none: i64,
    unknown: i64,
}

#[derive(Serialize, ToSchema)]
struct SummaryView {
    /// Open findings by severity.
    open: SeverityCounts,
    open_total: i64,
    open_known_exploited: i64,
    open_fixable: i64,
    fixed_total: i64,
    assets: i64,
    agents_online: i64,
    agents_offline: i64,
    #[serde(with = "timestamp::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    updated_at: Option<OffsetDateTime>,
}

/// The organization's counts, kept current by the workers as reports arrive.
#[utoipa::path(get, path = "/api/v1/summary", tag = "findings", security(("bearer" = [])),
    responses((status = 200, body = SummaryView), (status = 403, body = ErrorBody)))]
async fn summary(
    State(state): State<AppState>,
    access: OrgAccess<Read>,
) -> ApiResult<Json<SummaryView>> {
    let offline_before = OffsetDateTime::now_utc() - state.config.heartbeat_interval * 3;
    let summary = state.store.summary(access.scope, offline_before).await?;
    let [critical, high, medium, low, none, unknown] = summary.open;
    Ok(Json(SummaryView {
        open: SeverityCounts {
            critical,
            high,
            medium,
            low,
            none,
            unknown,
        },
        open_total: summary.open.iter().sum(),
        open_known_exploited: summary.open_known_exploited,
        open_fixable: summary.open_fixable,
        fixed_total: summary.fixed_total,
        assets: summary.assets,
        agents_online: summary.agents_online,
        agents_offline: summary.agents_offline,
        updated_at: summary.updated_at,
    }))
}
