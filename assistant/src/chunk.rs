//! Markdown chunking: one chunk per deepest heading section, so a procedure's numbered
//! steps stay together, and the section's quotable units (sentences, list items, table rows)
//! as verbatim spans of the source text.

use serde::{Deserialize, Serialize};

/// One section of a document: what is retrieved and cited.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Chunk {
    /// File name of the document inside the corpus folder (e.g. `rain-fade-response.md`).
    pub source: String,
    /// The document's title (its first `#` heading, else the file name).
    pub title: String,
    /// Headings from the section up to (not including) the title, outermost first.
    pub headings: Vec<String>,
    /// The section's text as written in the source, without its heading line.
    pub text: String,
    /// Quotable units of the section, each a verbatim substring of the source file.
    pub units: Vec<String>,
}

impl Chunk {
    /// `Title > Section > Subsection`.
    pub fn heading_path(&self) -> String {
        let mut path = self.title.clone();
        for h in &self.headings {
            path.push_str(" > ");
            path.push_str(h);
        }
        path
    }
}

/// Splits one Markdown document into chunks. `source` is the name cited for it.
pub fn chunk_markdown(source: &str, text: &str) -> Vec<Chunk> {
    let mut title: Option<String> = None;
    let mut headings: Vec<(usize, String)> = Vec::new();
    let mut sections: Vec<(Vec<String>, Vec<&str>)> = vec![(Vec::new(), Vec::new())];
    for line in text.lines() {
        if let Some((level, heading)) = heading_of(line) {
            if level == 1 && title.is_none() {
                title = Some(heading.to_string());
                continue;
            }
            headings.retain(|(l, _)| *l < level);
            headings.push((level, heading.to_string()));
            sections.push((
                headings.iter().map(|(_, h)| h.clone()).collect(),
                Vec::new(),
            ));
            continue;
        }
        if let Some(last) = sections.last_mut() {
            last.1.push(line);
        }
    }
    let title = title.unwrap_or_else(|| source.trim_end_matches(".md").to_string());
    sections
        .into_iter()
        .filter_map(|(heads, lines)| {
            let body = lines.join("\n");
            let body = body.trim();
            if body.is_empty() {
                return None;
            }
            let units = split_units(&lines);
            if units.is_empty() {
                return None;
            }
            Some(Chunk {
                source: source.to_string(),
                title: title.clone(),
                headings: heads,
                text: body.to_string(),
                units,
            })
        })
        .collect()
}

/// Most lines in one section of a configuration file.
const CONFIG_SECTION_LINES: usize = 40;

/// Splits a device configuration file (Cisco/Arista-style indented blocks, FortiOS
/// `config … end`, or flat `key value` lines) into chunks: one per top-level block (a
/// line at column 0 and the indented lines under it), consecutive one-line blocks
/// grouped, each section at most 40 lines. The title is `Configuration of <device>`
/// (`device`: usually the file stem); every line but comments (`!`, `#`) and blanks is a
/// quotable unit, verbatim.
pub fn chunk_config(source: &str, device: &str, text: &str) -> Vec<Chunk> {
    let title = format!("Configuration of {device}");
    let is_noise = |l: &str| {
        let t = l.trim();
        t.is_empty() || t.starts_with('!') || t.starts_with('#')
    };
    // blocks of lines: a top-level line and the indented lines after it
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        if is_noise(line) {
            continue;
        }
        let indented = line.starts_with(' ') || line.starts_with('\t');
        let closes = line.trim() == "end" || line.trim() == "exit";
        match blocks.last_mut() {
            Some(b) if indented || closes => b.push(line),
            _ => blocks.push(vec![line]),
        }
    }
    // one-line blocks run together; long blocks are cut
    let mut sections: Vec<Vec<&str>> = Vec::new();
    for b in blocks {
        let single = b.len() == 1;
        match sections.last_mut() {
            Some(s)
                if single
                    && s.len() < CONFIG_SECTION_LINES
                    && s.iter().all(|l| !l.starts_with([' ', '\t'])) =>
            {
                s.push(b[0])
            }
            _ => {
                for part in b.chunks(CONFIG_SECTION_LINES) {
                    sections.push(part.to_vec());
                }
            }
        }
    }
    let mut seen: Vec<String> = Vec::new();
    sections
        .into_iter()
        .map(|lines| {
            let mut heading = lines[0].trim().to_string();
            // headings name sections: keep them unique within the file
            let mut n = 1;
            while seen.contains(&heading) {
                n += 1;
                heading = format!("{} ({n})", lines[0].trim());
            }
            seen.push(heading.clone());
            Chunk {
                source: source.to_string(),
                title: title.clone(),
                headings: vec![heading],
                text: lines
                    .iter()
                    .map(|l| l.trim())
                    .collect::<Vec<_>>()
                    .join("\n"),
                units: lines.iter().map(|l| l.trim().to_string()).collect(),
            }
        })
        .collect()
}

fn heading_of(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|b| *b == b'#').count();
    if level == 0 || level > 6 {
        return None;
    }
    let rest = &line[level..];
    if !rest.starts_with(' ') {
        return None;
    }
    Some((level, rest.trim()))
}

/// A list item's text after its marker (`- `, `* `, `+ `), or a numbered item whole
/// (`3. Shut the port…`: the number says which step it is).
fn list_item(line: &str) -> Option<&str> {
    let t = line.trim_start();
    for marker in ["- ", "* ", "+ "] {
        if let Some(rest) = t.strip_prefix(marker) {
            return Some(rest.trim());
        }
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && t[digits..].starts_with(". ") {
        return Some(t.trim());
    }
    None
}

/// Quotable units of a section's lines: each list item, each table row (not the
/// separator), each sentence of a paragraph. Every unit is a substring of one line.
fn split_units(lines: &[&str]) -> Vec<String> {
    let mut units = Vec::new();
    for line in lines {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if t.starts_with('|') {
            let is_separator = t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '));
            if !is_separator {
                units.push(t.to_string());
            }
            continue;
        }
        if let Some(item) = list_item(line) {
            if !item.is_empty() {
                units.push(item.to_string());
            }
            continue;
        }
        units.extend(sentences(t).into_iter().map(str::to_string));
    }
    units
}

/// Sentences of one line: split after `.`, `?` or `!` followed by a space and an
/// upper-case letter, a digit, a quote or a backtick.
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i + 2 < bytes.len() {
        if matches!(bytes[i], b'.' | b'?' | b'!') && bytes[i + 1] == b' ' {
            let next = text[i + 2..].chars().next().unwrap_or(' ');
            let abbreviation = text[..i].ends_with("e.g") || text[..i].ends_with("i.e");
            if !abbreviation
                && (next.is_uppercase() || next.is_ascii_digit() || matches!(next, '`' | '"' | '*'))
            {
                let s = text[start..=i].trim();
                if !s.is_empty() {
                    out.push(s);
                }
                start = i + 2;
            }
        }
        i += 1;
    }
    let s = text[start..].trim();
    if !s.is_empty() {
        out.push(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Flapping Uplink\n\n**Document ID:** SOP-IT-09 · **Owner:** NM\n\n\
## Purpose\nStop a flapping uplink. Find the cause.\n\n## Procedure\n\
1. Identify the interface.\n2. Check the other uplink.\n   - switches: `shutdown`;\n\
3. Shut the port.\n\n### Optics\n| a | b |\n|---|---|\n| −12 dBm | suspect |\n";

    #[test]
    fn a_procedure_is_one_chunk_with_its_steps_in_order() {
        let chunks = chunk_markdown("uplink.md", DOC);
        let proc = chunks
            .iter()
            .find(|c| c.headings == ["Procedure"])
            .expect("procedure chunk");
        assert_eq!(proc.title, "Flapping Uplink");
        assert_eq!(proc.heading_path(), "Flapping Uplink > Procedure");
        assert_eq!(
            proc.units,
            [
                "1. Identify the interface.",
                "2. Check the other uplink.",
                "switches: `shutdown`;",
                "3. Shut the port."
            ]
        );
        assert!(proc.text.starts_with("1. Identify") && proc.text.ends_with("3. Shut the port."));
    }

    #[test]
    fn sub_headings_nest_and_tables_give_rows_without_separators() {
        let chunks = chunk_markdown("uplink.md", DOC);
        let optics = chunks.last().expect("chunks");
        assert_eq!(optics.headings, ["Procedure", "Optics"]);
        assert_eq!(optics.units, ["| a | b |", "| −12 dBm | suspect |"]);
        let preamble = &chunks[0];
        assert!(preamble.headings.is_empty());
        assert_eq!(preamble.units.len(), 1);
    }

    #[test]
    fn paragraphs_split_into_sentences_and_every_unit_is_verbatim() {
        let chunks = chunk_markdown("uplink.md", DOC);
        let purpose = chunks.iter().find(|c| c.headings == ["Purpose"]).unwrap();
        assert_eq!(
            purpose.units,
            ["Stop a flapping uplink.", "Find the cause."]
        );
        for c in &chunks {
            for u in &c.units {
                assert!(DOC.contains(u.as_str()), "{u:?} not verbatim");
            }
        }
        assert_eq!(
            sentences("Use e.g. the spare. Then stop."),
            ["Use e.g. the spare.", "Then stop."]
        );
    }

    #[test]
    fn a_config_splits_into_blocks_whose_lines_are_verbatim_units() {
        let cfg = "hostname core-sw-1\n!\nspanning-tree mode rapid-pvst\n\
interface Gi1/0/1\n description uplink to vsat\n switchport mode trunk\n!\n\
interface Gi1/0/2\n shutdown\n";
        let chunks = chunk_config("configs/core-sw-1.cfg", "core-sw-1", cfg);
        let heads: Vec<String> = chunks.iter().map(Chunk::heading_path).collect();
        assert_eq!(
            heads,
            [
                "Configuration of core-sw-1 > hostname core-sw-1",
                "Configuration of core-sw-1 > interface Gi1/0/1",
                "Configuration of core-sw-1 > interface Gi1/0/2",
            ]
        );
        assert_eq!(
            chunks[0].units,
            ["hostname core-sw-1", "spanning-tree mode rapid-pvst"]
        );
        assert_eq!(chunks[1].units[1], "description uplink to vsat");
        for c in &chunks {
            for u in &c.units {
                assert!(
                    cfg.contains(u.as_str()) && c.text.contains(u.as_str()),
                    "{u:?}"
                );
            }
        }
    }

    #[test]
    fn a_document_without_title_is_named_by_its_file() {
        let chunks = chunk_markdown("notes.md", "Just a line.\n");
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].title, "notes");
    }
}
