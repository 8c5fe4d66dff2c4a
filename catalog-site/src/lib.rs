//! The event catalog: IR in, a static HTML/CSS/JS site and an AsyncAPI 3.0 document out.
//!
//! [`render`] is pure: the same [`Model`] (and history) always gives the same bytes, with no
//! timestamps and sorted iteration everywhere. [`Site::write_to`] puts the files on disk.

pub mod asyncapi;
pub mod dashboards;
pub mod diff;
pub mod example;
pub mod flow;
pub mod history;
pub mod html;
pub mod names;
pub mod pages;
pub mod proto_text;
pub mod registry;
pub mod search;
pub mod sequence;

use carebus_codegen::ir::Model;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use history::{History, StepVerdict};

/// The stylesheet and script shipped with every site.
const CSS: &str = include_str!("../assets/catalog.css");
const JS: &str = include_str!("../assets/catalog.js");
/// Marks a directory as written by this tool, so a rebuild may replace it.
const MARKER: &str = ".carebus-catalog";

/// Why the catalog could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot write the catalog to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} exists, is not empty and was not written by carebus-catalog; pick another --out directory or remove it"
    )]
    ForeignOutput { path: PathBuf },
}

/// Options of one catalog build.
#[derive(Clone, Debug)]
pub struct CatalogOptions {
    /// Shown in page titles, the header and the AsyncAPI `info.title`.
    pub title: String,
}

impl Default for CatalogOptions {
    fn default() -> Self {
        CatalogOptions {
            title: "Healthcare event catalog".to_string(),
        }
    }
}

/// A rendered site: site-relative path → file bytes, sorted by path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Site {
    files: BTreeMap<String, Vec<u8>>,
}

impl Site {
    fn add(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.files.insert(path.into(), bytes.into());
    }

    /// Every file, sorted by site-relative path.
    pub fn files(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(p, b)| (p.as_str(), b.as_slice()))
    }

    /// One file's text, e.g. `site.text("index.html")`.
    pub fn text(&self, path: &str) -> Option<&str> {
        self.files
            .get(path)
            .and_then(|b| std::str::from_utf8(b).ok())
    }

    /// Writes the site into `out`, replacing an earlier catalog there. Refuses to touch a
    /// non-empty directory that this tool did not write.
    pub fn write_to(&self, out: &Path) -> Result<(), CatalogError> {
        let write_err = |path: &Path, source| CatalogError::Write {
            path: path.to_path_buf(),
            source,
        };
        if out.exists() {
            let empty = std::fs::read_dir(out)
                .map_err(|e| write_err(out, e))?
                .next()
                .is_none();
            if !empty {
                if !out.join(MARKER).is_file() {
                    return Err(CatalogError::ForeignOutput {
                        path: out.to_path_buf(),
                    });
                }
                std::fs::remove_dir_all(out).map_err(|e| write_err(out, e))?;
            }
        }
        std::fs::create_dir_all(out).map_err(|e| write_err(out, e))?;
        std::fs::write(out.join(MARKER), "written by carebus-catalog\n")
            .map_err(|e| write_err(&out.join(MARKER), e))?;
        for (rel, bytes) in &self.files {
            let path = out.join(rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
            }
            std::fs::write(&path, bytes).map_err(|e| write_err(&path, e))?;
        }
        Ok(())
    }
}

/// Renders the whole catalog: every page, the assets, the search index, `asyncapi.json` and
/// the static Schema Registry API (`registry/`).
///
/// The generated Rust names come from the IR; a model without them (IR written by hand) gets
/// them from the generator first.
pub fn render(model: &Model, history: &History, options: &CatalogOptions) -> Site {
    let model = &*carebus_codegen::emit::named(model);
    let mut site = Site::default();
    let title = options.title.as_str();
    let add_page = |site: &mut Site, page: html::Page| {
        let text = html::shell(&page, title);
        site.add(page.path, text);
    };

    add_page(&mut site, pages::home::render(model, title));
    for domain in pages::home::domains(model).keys() {
        add_page(&mut site, pages::other::domain(model, domain));
    }
    for topic in &model.topics {
        add_page(&mut site, pages::topic::render(model, topic));
    }
    for event in &model.events {
        add_page(&mut site, pages::event::render(model, history, event));
    }
    for service in &model.services {
        add_page(&mut site, pages::other::service(model, service));
    }
    for guide in &model.guides {
        add_page(&mut site, pages::other::guide(guide));
    }
    for journey in pages::journey::newest(model).values() {
        add_page(&mut site, pages::journey::render(model, journey));
    }
    for flow in &model.flows {
        let (page, diagram) = pages::flows::render(flow);
        add_page(&mut site, page);
        site.add(pages::flows::svg_path(flow), diagram);
    }

    site.add("assets/catalog.css", CSS);
    site.add("assets/catalog.js", JS);
    site.add("search-index.js", search::index_js(model));
    let asyncapi = asyncapi::document(model, title);
    let mut asyncapi_text =
        serde_json::to_string_pretty(&asyncapi).unwrap_or_else(|_| "{}".to_string());
    asyncapi_text.push('\n');
    site.add("asyncapi.json", asyncapi_text);
    for (path, text) in registry::files(model, history) {
        site.add(path, text);
    }
    site
}
