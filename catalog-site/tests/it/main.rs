//! The catalog site's tests in one binary: pages and AsyncAPI from the IR (snapshots), and headless-browser checks.

mod browser;
mod journeys;
mod site;
