//! The XML underneath PSKC, pulled one subtree at a time.
//!
//! A factory file can hold a million KeyPackages, so the document is never
//! built whole: the container's header elements and then each KeyPackage
//! are read into a small tree ([`Element`]), interpreted, and dropped.
//! Names are resolved to namespaces, not prefixes, because PSKC files in the
//! wild bind `pskc`, `xenc`, `ds` and `pkcs5` to whatever prefix they like
//! (RFC 6030 itself uses both a default namespace and `pskc:`).
//!
//! Line numbers come from counting newlines in the bytes quick-xml consumes
//! from the input, so an error can name the line where a KeyPackage starts
//! without keeping the file.

use std::borrow::Cow;
use std::io::{self, BufRead, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use zeroize::{Zeroize, Zeroizing};

use crate::formats::problem::shown;

/// RFC 6030's own namespace.
pub(super) const NS_PSKC: &str = "urn:ietf:params:xml:ns:keyprov:pskc";
/// XML Encryption 1.0.
pub(super) const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
/// XML Encryption 1.1 (DerivedKey).
pub(super) const NS_XENC11: &str = "http://www.w3.org/2009/xmlenc11#";
/// XML Signature (KeyName, Signature).
pub(super) const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// PKCS #5 v2.0 schema (PBKDF2-params).
pub(super) const NS_PKCS5: &str = "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#";

/// Most elements one subtree may hold: a KeyPackage has a few dozen, so a
/// subtree that never ends is an attack or a broken file, not a token.
const MAX_SUBTREE_ELEMENTS: usize = 10_000;
/// Most text bytes one subtree may hold (a secret is at most 128 bytes;
/// certificates in a Signature are a few kilobytes).
const MAX_SUBTREE_TEXT: usize = 1 << 20;
/// Most bytes one piece of markup (a text node, a tag, a comment) may
/// take. quick-xml gathers a whole event in memory before handing it over,
/// so the subtree budget above would apply only after a huge text node had
/// been buffered; this limit is enforced while the bytes are read, so
/// memory stays bounded whatever the file holds.
pub(super) const MAX_EVENT_BYTES: usize = MAX_SUBTREE_TEXT + 64 * 1024;
/// Deepest nesting inside one subtree: a KeyPackage is 5 levels deep, a
/// Signature 6; the limit keeps the recursive reader's stack small.
const MAX_DEPTH: usize = 32;

/// The namespaces PSKC uses, resolved from whatever prefix the file chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ns {
    /// `urn:ietf:params:xml:ns:keyprov:pskc`.
    Pskc,
    /// XML Encryption 1.0.
    Xenc,
    /// XML Encryption 1.1.
    Xenc11,
    /// XML Signature.
    Ds,
    /// PKCS #5 v2.0.
    Pkcs5,
    /// No namespace (unprefixed, no default namespace in scope).
    Unbound,
    /// Any other namespace.
    Other,
}

impl Ns {
    fn from_uri(uri: &[u8]) -> Ns {
        match uri {
            u if u == NS_PSKC.as_bytes() => Ns::Pskc,
            u if u == NS_XENC.as_bytes() => Ns::Xenc,
            u if u == NS_XENC11.as_bytes() => Ns::Xenc11,
            u if u == NS_DS.as_bytes() => Ns::Ds,
            u if u == NS_PKCS5.as_bytes() => Ns::Pkcs5,
            _ => Ns::Other,
        }
    }
}

/// One element with its attributes, text and children. The text may be a
/// secret (a PlainValue), so it is wiped when the element is dropped and
/// never shown by `Debug`.
pub(super) struct Element {
    /// Namespace of the element.
    pub ns: Ns,
    /// Local name (without prefix).
    pub name: String,
    /// 1-based line where the start tag begins.
    pub line: u64,
    /// Attributes by local name (namespace declarations left out).
    pub attrs: Vec<(String, String)>,
    /// Character data directly inside the element, entities resolved.
    pub text: Zeroizing<String>,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl std::fmt::Debug for Element {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Element")
            .field("ns", &self.ns)
            .field("name", &self.name)
            .field("line", &self.line)
            .field("text", &"[REDACTED]")
            .field("children", &self.children)
            .finish()
    }
}

impl Element {
    /// The value of the attribute with this local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first child with this namespace and local name.
    pub fn child(&self, ns: Ns, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.ns == ns && c.name == name)
    }

    /// Every child with this namespace and local name.
    pub fn children_named<'s>(
        &'s self,
        ns: Ns,
        name: &'s str,
    ) -> impl Iterator<Item = &'s Element> + 's {
        self.children
            .iter()
            .filter(move |c| c.ns == ns && c.name == name)
    }

    /// The first child with this local name, whatever its namespace (for
    /// the PKCS #5 parameters, whose children files leave unqualified or
    /// qualify with pkcs5 or xenc11).
    pub fn child_any_ns(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text with surrounding whitespace removed.
    pub fn trimmed(&self) -> &str {
        self.text.trim()
    }

    /// Whether this is `<pskc:name>`.
    pub fn is(&self, ns: Ns, name: &str) -> bool {
        self.ns == ns && self.name == name
    }
}

/// A problem in the XML itself, with the line where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct XmlError {
    /// 1-based line.
    pub line: u64,
    /// Stable kind for the log (`xml_malformed`, `xml_too_large`, ...).
    pub kind: &'static str,
    /// What is wrong: fixed text and element names, never text content.
    pub problem: String,
}

/// What the next piece of markup at the current level is.
#[derive(Debug)]
pub(super) enum Next {
    /// A start tag (children not read yet) and whether it was `<x/>`.
    Start(Element, bool),
    /// The end tag of the enclosing element.
    End,
    /// The end of the input.
    Eof,
}

/// Counts the newlines of every byte handed to quick-xml, and the bytes of
/// the event being read, refusing to hand over more than
/// [`MAX_EVENT_BYTES`] for one event.
struct LineCounter<R> {
    inner: R,
    newlines: u64,
    /// Bytes consumed since the current event began.
    event_bytes: usize,
    /// The limit was hit: the read error is ours, not the disk's.
    over_limit: bool,
}

impl<R: BufRead> Read for LineCounter<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let avail = self.inner.fill_buf()?;
            let n = avail.len().min(out.len());
            out[..n].copy_from_slice(&avail[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for LineCounter<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.event_bytes > MAX_EVENT_BYTES {
            self.over_limit = true;
            return Err(io::Error::other("markup larger than the limit"));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if amt > 0 {
            // The bytes being consumed are still in the inner buffer (they
            // were returned by the last fill_buf), so this does no I/O.
            if let Ok(buf) = self.inner.fill_buf() {
                let k = amt.min(buf.len());
                self.newlines += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
            }
        }
        self.event_bytes = self.event_bytes.saturating_add(amt);
        self.inner.consume(amt);
    }
}

/// A namespace-aware pull parser over a PSKC file.
pub(super) struct XmlStream<'a> {
    reader: Reader<'a>,
    /// The current event's bytes; may hold a secret: wiped per event and on drop.
    buf: Vec<u8>,
}

impl Drop for XmlStream<'_> {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

type Reader<'a> = NsReader<LineCounter<Box<dyn BufRead + 'a>>>;

fn line_of(reader: &Reader<'_>) -> u64 {
    reader.get_ref().newlines + 1
}

fn err(line: u64, problem: impl Into<String>) -> XmlError {
    XmlError {
        line,
        kind: "xml_malformed",
        problem: problem.into(),
    }
}

/// Words for a parser error that carry none of the file's text (quick-xml's
/// own messages can quote content, e.g. an unknown entity).
fn describe(e: &quick_xml::Error) -> String {
    use quick_xml::Error as E;
    match e {
        E::Syntax(s) => format!("not well-formed XML: {s}"),
        E::IllFormed(_) => {
            "not well-formed XML: tags do not match or markup is out of place".into()
        }
        E::Io(_) => "not well-formed XML: the input could not be read".into(),
        E::Encoding(_) => "not well-formed XML: the text is not in its declared encoding".into(),
        E::Escape(_) => "not well-formed XML: a character reference or entity is not valid".into(),
        E::Namespace(_) => "not well-formed XML: a namespace declaration is not valid".into(),
        _ => "not well-formed XML".into(),
    }
}

impl<'a> XmlStream<'a> {
    pub fn new(input: Box<dyn BufRead + 'a>) -> Self {
        let mut reader = NsReader::from_reader(LineCounter {
            inner: input,
            newlines: 0,
            event_bytes: 0,
            over_limit: false,
        });
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        XmlStream {
            reader,
            buf: Vec::new(),
        }
    }

    /// The 1-based line the parser has reached.
    pub fn line(&self) -> u64 {
        line_of(&self.reader)
    }

    /// Reads up to the next start tag, end tag or end of input, skipping
    /// text, comments, processing instructions and the declaration.
    pub fn next(&mut self) -> Result<Next, XmlError> {
        loop {
            let (line, ns, event) = pull(&mut self.reader, &mut self.buf)?;
            match event {
                Event::Start(e) => {
                    return Ok(Next::Start(head(&self.reader, ns, &e, line)?, false))
                }
                Event::Empty(e) => return Ok(Next::Start(head(&self.reader, ns, &e, line)?, true)),
                Event::End(_) => return Ok(Next::End),
                Event::Eof => return Ok(Next::Eof),
                Event::Text(_)
                | Event::CData(_)
                | Event::Comment(_)
                | Event::Decl(_)
                | Event::PI(_) => {}
                Event::DocType(_) => {}
            }
        }
    }

    /// Reads the children and text of `head` (just returned by [`next`]) up
    /// to its end tag.
    ///
    /// [`next`]: XmlStream::next
    pub fn subtree(&mut self, head: Element, empty: bool) -> Result<Element, XmlError> {
        if empty {
            return Ok(head);
        }
        let mut budget = Budget {
            elements: MAX_SUBTREE_ELEMENTS,
            text: MAX_SUBTREE_TEXT,
        };
        fill(&mut self.reader, &mut self.buf, head, 1, &mut budget)
    }
}

/// One event read by [`pull`]: the line it starts on, its namespace (or
/// the unbound prefix), and the event.
type Pulled<'b> = (u64, Result<Ns, Vec<u8>>, Event<'b>);

/// Reads one event, with the line it starts on and its namespace.
fn pull<'b>(reader: &mut Reader<'_>, buf: &'b mut Vec<u8>) -> Result<Pulled<'b>, XmlError> {
    let line = line_of(reader);
    // The last event may have been a base64 secret: wipe it first.
    buf.zeroize();
    reader.get_mut().event_bytes = 0;
    let failed = match reader.read_resolved_event_into(buf) {
        Ok((ns, event)) => return Ok((line, resolve(ns), event)),
        Err(e) => describe(&e),
    };
    if reader.get_ref().over_limit {
        return Err(XmlError {
            line,
            kind: "xml_too_large",
            problem: format!(
                "a text node or tag is longer than {MAX_EVENT_BYTES} bytes (the limit of one piece of markup); \
                 no PSKC value is that long"
            ),
        });
    }
    Err(err(line_of(reader), failed))
}

/// Reads the content of `el`, at nesting `depth` below the subtree's root.
fn fill(
    reader: &mut Reader<'_>,
    buf: &mut Vec<u8>,
    mut el: Element,
    depth: usize,
    budget: &mut Budget,
) -> Result<Element, XmlError> {
    loop {
        let (line, ns, event) = pull(reader, buf)?;
        match event {
            Event::Start(e) => {
                budget.take_element(&el, line, depth)?;
                let child = head(reader, ns, &e, line)?;
                // Recursion is bounded by MAX_DEPTH (checked just above).
                let child = fill(reader, buf, child, depth + 1, budget)?;
                el.children.push(child);
            }
            Event::Empty(e) => {
                budget.take_element(&el, line, depth)?;
                el.children.push(head(reader, ns, &e, line)?);
            }
            Event::End(_) => return Ok(el),
            Event::Eof => {
                return Err(err(
                    line,
                    format!(
                        "the file ends inside <{}> (line {}): it is truncated",
                        shown(&el.name),
                        el.line
                    ),
                ))
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|_| {
                    err(
                        line,
                        format!(
                            "the text of <{}> has a character reference or entity that is not valid",
                            shown(&el.name)
                        ),
                    )
                })?;
                budget.push_text(&mut el, text).map_err(|p| err(line, p))?;
            }
            Event::CData(c) => {
                let text = std::str::from_utf8(&c).map_err(|_| err(line, "CDATA is not UTF-8"))?;
                budget
                    .push_text(&mut el, Cow::Borrowed(text))
                    .map_err(|p| err(line, p))?;
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
}

/// Builds the element of a start tag: namespace, name, attributes.
fn head(
    reader: &Reader<'_>,
    ns: Result<Ns, Vec<u8>>,
    e: &BytesStart<'_>,
    line: u64,
) -> Result<Element, XmlError> {
    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
    // Names go into messages through `shown`: one that could be a secret
    // is described.
    let ns = ns.map_err(|prefix| {
        err(
            line,
            format!(
                "<{}> uses the prefix {:?}, which is not declared",
                shown(&name),
                shown(&String::from_utf8_lossy(&prefix))
            ),
        )
    })?;
    let mut attrs = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|_| err(line, format!("bad attribute in <{}>", shown(&name))))?;
        let key = attr.key.as_ref();
        if key == b"xmlns" || key.starts_with(b"xmlns:") {
            continue;
        }
        let (_, local) = reader.resolve_attribute(attr.key);
        let value = attr
            .unescape_value()
            .map_err(|_| err(line, format!("bad attribute value in <{}>", shown(&name))))?;
        attrs.push((
            String::from_utf8_lossy(local.as_ref()).into_owned(),
            value.into_owned(),
        ));
    }
    Ok(Element {
        ns,
        name,
        line,
        attrs,
        text: Zeroizing::new(String::new()),
        children: Vec::new(),
    })
}

/// What one subtree may still hold, so a hostile file cannot make a
/// "KeyPackage" that fills memory or the stack.
struct Budget {
    elements: usize,
    text: usize,
}

impl Budget {
    fn take_element(&mut self, parent: &Element, line: u64, depth: usize) -> Result<(), XmlError> {
        if depth >= MAX_DEPTH {
            return Err(err(
                line,
                format!("<{}> nests elements too deeply", shown(&parent.name)),
            ));
        }
        if self.elements == 0 {
            return Err(err(
                line,
                format!("<{}> holds too many elements", shown(&parent.name)),
            ));
        }
        self.elements -= 1;
        Ok(())
    }

    fn push_text(&mut self, el: &mut Element, text: Cow<'_, str>) -> Result<(), String> {
        if text.len() > self.text {
            return Err(format!("<{}> holds too much text", shown(&el.name)));
        }
        self.text -= text.len();
        el.text.push_str(&text);
        // An owned Cow is a copy (entities were resolved): wipe it too.
        if let Cow::Owned(mut s) = text {
            s.zeroize();
        }
        Ok(())
    }
}

fn resolve(r: ResolveResult<'_>) -> Result<Ns, Vec<u8>> {
    match r {
        ResolveResult::Unbound => Ok(Ns::Unbound),
        ResolveResult::Bound(ns) => Ok(Ns::from_uri(ns.as_ref())),
        ResolveResult::Unknown(prefix) => Err(prefix),
    }
}
