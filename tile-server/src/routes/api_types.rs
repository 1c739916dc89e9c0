//! The value sets and bodies of the API as the OpenAPI document states them. Handlers parse
//! their raw query strings themselves (for precise errors); these types only describe what they
//! accept, so that a request the document allows is never refused and one it forbids always is.

use serde::Serialize;
use utoipa::ToSchema;

/// Which engine answers a query.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// The in-memory index (default).
    Index,
    /// PostgreSQL / PostGIS.
    Postgis,
}

/// The `f` parameter of OGC API routes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OgcFormat {
    /// JSON.
    Json,
    /// GeoJSON (items).
    Geojson,
}

/// Languages of the `filter` parameter.
#[derive(Debug, Serialize, ToSchema)]
pub enum FilterLang {
    /// CQL2 text (the default).
    #[serde(rename = "cql2-text")]
    Cql2Text,
    /// CQL2-JSON, the JSON in the query string.
    #[serde(rename = "cql2-json")]
    Cql2Json,
}

/// Coordinate reference systems of filter geometries.
#[derive(Debug, Serialize, ToSchema)]
pub enum FilterCrs {
    /// WGS84 longitude/latitude.
    #[serde(rename = "http://www.opengis.net/def/crs/OGC/1.3/CRS84")]
    Crs84,
    /// The same, by its https URI.
    #[serde(rename = "https://www.opengis.net/def/crs/OGC/1.3/CRS84")]
    Crs84Https,
}

/// Who may see a layer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Everyone.
    Public,
    /// The owner and the agencies it grants.
    Restricted,
    /// The owner only.
    Private,
}

/// How an upload reaches the live layer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UploadMode {
    /// The layer becomes the upload.
    Replace,
    /// The upload's features are added.
    Append,
    /// Features whose `upsert_key` is live are replaced, others added.
    Upsert,
}

/// What an import does with a bad feature.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnInvalid {
    /// Repair what can be, skip the rest.
    Repair,
    /// Skip every bad feature.
    Skip,
    /// Fail the job at the first one.
    Fail,
}

/// Level of a boundary layer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AdminLevel {
    /// The city outline.
    City,
    /// Districts.
    District,
    /// Wards and communes.
    Ward,
}

/// What an API key may do.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read the agency's and granted layers.
    Read,
    /// Publish, roll back and share the agency's layers.
    Publish,
    /// Everything, for every agency.
    Admin,
}

/// Tile matrix sets served.
#[derive(Debug, Serialize, ToSchema)]
pub enum TileMatrixSetId {
    /// Web Mercator, 256-pixel tiles (Google, OSM, MapLibre).
    WebMercatorQuad,
}

/// `POST /v1/agencies` body.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgencyBody {
    /// 1–31 lower-case letters and digits, a letter first.
    #[schema(pattern = "^[a-z][a-z0-9]{0,30}$")]
    pub slug: String,
    /// Display name (not blank).
    #[schema(pattern = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$", max_length = 200)]
    pub name: String,
}

/// `POST /v1/agencies/{agency}/keys` body.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    /// What the key is for.
    #[schema(max_length = 200, pattern = "^[^\\u0000]*$")]
    pub name: Option<String>,
    /// At least one scope.
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
    /// When it stops working (RFC 3339, in the future); never when absent.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<String>,
}

/// `PATCH /v1/layers/{layer}` body: the catalog values to change (at least one); the others
/// stay as they are.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayerChangeBody {
    /// Who may see the layer.
    #[schema(nullable = false)]
    pub visibility: Option<Visibility>,
    /// Human title.
    #[schema(min_length = 1, pattern = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$")]
    #[schema(nullable = false)]
    pub title: Option<String>,
    /// Description.
    #[schema(nullable = false)]
    pub description: Option<String>,
    /// Attribution shown with its tiles.
    #[schema(nullable = false)]
    pub attribution: Option<String>,
    /// Lowest zoom served.
    #[schema(minimum = 0, maximum = 24)]
    #[schema(nullable = false)]
    pub minzoom: Option<u8>,
    /// Highest zoom served (not below `minzoom`).
    #[schema(minimum = 0, maximum = 24)]
    #[schema(nullable = false)]
    pub maxzoom: Option<u8>,
    /// Admin layout of a boundary layer (e.g. `2025`).
    #[schema(nullable = false)]
    pub layout: Option<String>,
    /// First day the layer is valid.
    #[schema(format = Date)]
    #[schema(nullable = false)]
    pub valid_from: Option<String>,
    /// First day it no longer is (after `valid_from`).
    #[schema(format = Date)]
    #[schema(nullable = false)]
    pub valid_to: Option<String>,
}

/// `POST /v1/agencies/{agency}/layers/{layer}/uploads` body: one part, `file`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadBody {
    /// The file: `.geojson`/`.json`, `.zip` (a Shapefile), `.gpkg`, `.csv`, `.kml`, `.fgb`.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}
