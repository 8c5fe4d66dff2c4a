//! The event catalog: IR in, a static HTML/CSS/JS site and an AsyncAPI 3.0 document out.
