//! HTML building blocks: escaping, relative links between pages, badges and the page shell every page is wrapped in.

use carebus_codegen::ir::Classification;
use std::fmt::Write as _;

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A string safe to use as a file name and an HTML id: ASCII letters, digits, `.`, `_`, `-`.
pub fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Site-relative paths of every kind of page (relative to the site root, `/`-separated).
pub mod path {
    use super::slug;

    pub fn home() -> String {
        "index.html".into()
    }
    pub fn event(name: &str) -> String {
        format!("events/{}.html", slug(name))
    }
    pub fn event_version(name: &str, version: u32) -> String {
        format!("events/{}.v{version}.html", slug(name))
    }
    pub fn topic(name: &str) -> String {
        format!("topics/{}.html", slug(name))
    }
    pub fn service(name: &str) -> String {
        format!("services/{}.html", slug(name))
    }
    pub fn domain(name: &str) -> String {
        format!("domains/{}.html", slug(name))
    }
    pub fn journey(name: &str) -> String {
        format!("journeys/{}.html", slug(name))
    }
    pub fn guide(slug_: &str) -> String {
        format!("guides/{}.html", slug(slug_))
    }
}

/// Turns site-relative paths into links relative to the page being written, so the site
/// works from `file://` and from any sub-path of a static host.
#[derive(Clone, Debug)]
pub struct Links {
    root: String,
}

impl Links {
    /// Links as seen from the page at site-relative `page_path`.
    pub fn from_page(page_path: &str) -> Links {
        Links {
            root: "../".repeat(page_path.matches('/').count()),
        }
    }
    /// The prefix that leads back to the site root (`""` or `"../"`).
    pub fn root(&self) -> &str {
        &self.root
    }
    /// A link to a site-relative path.
    pub fn to(&self, site_path: &str) -> String {
        format!("{}{}", self.root, site_path)
    }
}

/// The classification badge (PHI/PII), or nothing for unclassified data.
pub fn classification_badge(classification: Classification) -> &'static str {
    match classification {
        Classification::Phi => {
            r#"<span class="badge badge-phi" title="Protected health information">PHI</span>"#
        }
        Classification::Pii => {
            r#"<span class="badge badge-pii" title="Personally identifiable information">PII</span>"#
        }
        Classification::None => "",
    }
}

/// A deprecation marker with its reason.
pub fn deprecated_badge(reason: &str) -> String {
    format!(
        r#"<span class="badge badge-deprecated" title="{}">deprecated</span>"#,
        esc(reason)
    )
}

/// Wraps a table so it scrolls sideways on narrow screens and can be scrolled by keyboard.
pub fn table_wrap(label: &str, table: &str) -> String {
    format!(
        r#"<div class="table-wrap" role="region" aria-label="{}" tabindex="0">{table}</div>"#,
        esc(label)
    )
}

/// Which top-level section a page belongs to (highlighted in the navigation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Overview,
    Domains,
    Topics,
    Services,
    Guides,
    /// Journey pages (reached from the overview's journeys section; not in the navigation).
    Journeys,
}

/// One rendered page before it is wrapped in the shell.
pub struct Page {
    /// Site-relative path, e.g. `events/PatientCreated.html`.
    pub path: String,
    pub title: String,
    pub section: Section,
    /// Breadcrumb trail above the heading: (label, site-relative path).
    pub crumbs: Vec<(String, String)>,
    /// The main content, starting with its `<h1>`.
    pub body: String,
}

/// Wraps a page's body in the shared shell: head, skip link, header with navigation and
/// search, main landmark, footer and scripts.
pub fn shell(page: &Page, site_title: &str) -> String {
    let links = Links::from_page(&page.path);
    let nav_item = |section: Section, label: &str, href: &str| {
        // The overview link is the page itself; the others point at a section of it.
        let current = if section == page.section && section == Section::Overview {
            r#" aria-current="page""#
        } else if section == page.section {
            r#" aria-current="true""#
        } else {
            ""
        };
        format!(
            r#"<li><a href="{}"{current}>{label}</a></li>"#,
            esc(&links.to(href))
        )
    };
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {site}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{root}assets/catalog.css">
</head>
<body data-root="{root}">
<a class="skip-link" href="#main">Skip to content</a>
<header class="site-header">
<div class="header-inner">
<a class="brand" href="{home}">{site}</a>
<nav aria-label="Main">
<ul>
{overview}
{domains}
{topics}
{services}
{guides}
<li><a href="{root}asyncapi.json">AsyncAPI</a></li>
</ul>
</nav>
<form class="search" role="search" action="{home}" onsubmit="return false">
<label class="visually-hidden" for="search-header">Search events, fields and docs</label>
<input id="search-header" type="search" placeholder="Search events, fields…" autocomplete="off" data-search-results="search-header-results">
<div id="search-header-results" class="search-results" aria-live="polite" hidden></div>
</form>
</div>
</header>
<main id="main" tabindex="-1">
"##,
        title = esc(&page.title),
        site = esc(site_title),
        root = links.root(),
        home = links.to(&path::home()),
        overview = nav_item(Section::Overview, "Overview", &path::home()),
        domains = nav_item(Section::Domains, "Domains", "index.html#domains"),
        topics = nav_item(Section::Topics, "Topics", "index.html#topics"),
        services = nav_item(Section::Services, "Services", "index.html#services"),
        guides = nav_item(Section::Guides, "Guides", "index.html#guides"),
    );
    if !page.crumbs.is_empty() {
        out.push_str(r#"<nav class="crumbs" aria-label="Breadcrumb"><ol>"#);
        for (label, href) in &page.crumbs {
            let _ = write!(
                out,
                r#"<li><a href="{}">{}</a></li>"#,
                esc(&links.to(href)),
                esc(label)
            );
        }
        let _ = write!(
            out,
            r#"<li><span aria-current="page">{}</span></li></ol></nav>"#,
            esc(&page.title)
        );
        out.push('\n');
    }
    out.push_str(&page.body);
    let _ = write!(
        out,
        r#"</main>
<footer class="site-footer">
<p>Generated from the schemas by <code>carebus-catalog</code>. The same schemas generate the Rust types, so this catalog matches what services send.</p>
</footer>
<script src="{root}search-index.js"></script>
<script src="{root}assets/catalog.js"></script>
</body>
</html>
"#,
        root = links.root()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn links_climb_back_to_the_root() {
        assert_eq!(
            Links::from_page("index.html").to("events/A.html"),
            "events/A.html"
        );
        assert_eq!(
            Links::from_page("events/B.html").to("topics/t.html"),
            "../topics/t.html"
        );
    }

    #[test]
    fn slug_keeps_safe_characters_only() {
        assert_eq!(
            slug("healthcare.patients.events"),
            "healthcare.patients.events"
        );
        assert_eq!(slug("a b/c"), "a-b-c");
    }
}
