//! Listing an organization's invitations: one page, or all of them as a lazy stream.
//!
//! The server pages by offset over a collection it does not order, so pages can repeat items
//! when invitations are added meanwhile, and a misbehaving server or proxy can return any
//! order or ignore the paging parameters. A stream remembers a 64-bit key of every id it
//! yielded and never yields one twice, and it fails instead of looping when paging stops
//! bringing anything new.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Stream, TryStreamExt, stream};

use crate::call::{CallOptions, call_builder};
use crate::error::{Error, ErrorKind};
use crate::model::Invitation;
use crate::operation;
use crate::org::OrgInvitations;
use crate::retry::Effect;
use crate::setters::setters;
use crate::validate;

/// The server's page size when none is given.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// Full pages in a row bringing no invitation not yet yielded, after which a stream fails
/// with [`ErrorKind::RepeatedPage`]: its server is not paging (it ignores `first`, or returns
/// another order on each request), and the stream would not end.
pub const MAX_PAGES_WITHOUT_NEWS: u32 = 3;

/// Builder of [`OrgInvitations::list`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until sent"]
pub struct ListInvitations {
    org: OrgInvitations,
    options: CallOptions,
    search: Option<String>,
    offset: u64,
    page_size: u32,
    max_items: Option<u64>,
    /// Pages whose ids are remembered; `None` for every id.
    dedupe_window: Option<usize>,
}

impl OrgInvitations {
    /// Lists the invitations, one page or all of them.
    pub fn list(&self) -> ListInvitations {
        ListInvitations::new(self.clone())
    }
}

impl ListInvitations {
    fn new(org: OrgInvitations) -> Self {
        ListInvitations {
            org,
            options: CallOptions::default(),
            search: None,
            offset: 0,
            page_size: DEFAULT_PAGE_SIZE,
            max_items: None,
            dedupe_window: None,
        }
    }

    /// The options of the call this listing is part of.
    pub(crate) fn with_options(mut self, options: CallOptions) -> Self {
        self.options = options;
        self
    }

    setters! {
        /// Only invitations whose email contains `text`. Lower-cased here, because the server
        /// matches case-sensitively against the lower-cased emails it stores.
        fn search(text: impl AsRef<str>) => search = Some(text.as_ref().to_lowercase());

        /// Skips the first `offset` invitations.
        fn offset(offset: u64) => offset = offset;

        /// Invitations per request, 1 to `i32::MAX`. Default [`DEFAULT_PAGE_SIZE`].
        fn page_size(size: u32) => page_size = size;

        /// Stops after `n` invitations.
        fn max_items(n: u64) => max_items = Some(n);

        /// Remembers only the ids of the latest `pages` pages instead of every id, for listings
        /// too large to remember: memory then stays flat, and an invitation the server returns
        /// again after more pages than that is yielded again.
        ///
        /// By default [`pages`](Self::pages) and [`stream`](Self::stream) remember every id they
        /// yielded, as a 64-bit keyed hash: 10 to 21 bytes per invitation (the key and a control
        /// byte per slot of a hash table between 7/16 and 7/8 full), and about 31 at the peak
        /// while the table grows (old and new table side by side): about 30 MB for a million.
        /// Two ids sharing a key, which would skip one of them, has a chance below 1 in 30 million
        /// for a million invitations.
        fn dedupe_window(pages: usize) => dedupe_window = Some(pages.max(1));
    }

    fn check(&self) -> Result<(), Error> {
        self.org.check_scope()?;
        if self.page_size == 0 {
            return Err(Error::invalid("page_size", "must be at least 1"));
        }
        validate::wire_int("page_size", self.page_size.into())?;
        validate::wire_int("offset", self.offset)?;
        Ok(())
    }

    /// One request: the invitations at `offset`, at most `max` of them.
    async fn fetch(&self, offset: u64, max: u64) -> Result<Vec<Invitation>, Error> {
        const OP: &str = operation::LIST;
        let first = validate::wire_int("offset", offset).map_err(|e| e.with_operation(OP))?;
        let wire_max = validate::wire_int("page_size", max).map_err(|e| e.with_operation(OP))?;
        let org = &self.org;
        let response = org
            .client
            .engine()
            .call(org.call(OP, Effect::Read, &self.options), |raw| {
                let mut request = raw
                    .get_organization_invitations()
                    .realm(&*org.realm)
                    .org_id(&*org.org_id)
                    .first(first)
                    .max(wire_max);
                if let Some(search) = &self.search {
                    request = request.search(search);
                }
                request.send()
            })
            .await?
            .answered()?;
        let page = response.into_inner();
        if page.len() as u64 > max {
            // A proxy that drops the query string, or a server ignoring `max`: paging by
            // offset over such pages would never end.
            return Err(Error::new(ErrorKind::RepeatedPage)
                .with_detail(format!(
                    "the server sent {} invitations for a page of at most {max}; it ignores `max`",
                    page.len()
                ))
                .with_operation(OP));
        }
        Ok(page)
    }

    /// One page, exactly one request: the page at [`offset`](Self::offset) of
    /// [`page_size`](Self::page_size) invitations (fewer with [`max_items`](Self::max_items)).
    /// Awaiting the builder does the same. For every page, see [`collect`](Self::collect),
    /// [`stream`](Self::stream) and [`pages`](Self::pages).
    pub async fn send(self) -> Result<Vec<Invitation>, Error> {
        self.check().map_err(|e| e.with_operation(operation::LIST))?;
        let size = u64::from(self.page_size).min(self.max_items.unwrap_or(u64::MAX));
        if size == 0 {
            return Ok(Vec::new());
        }
        self.fetch(self.offset, size).await
    }

    /// Every page, collected: all invitations (up to [`max_items`](Self::max_items)), each
    /// once. Holds them all in memory; [`stream`](Self::stream) reads them as they come.
    pub async fn collect(self) -> Result<Vec<Invitation>, Error> {
        self.stream().try_collect().await
    }

    /// All pages, requested one after the other as the stream is read. Stops after a short
    /// page or [`max_items`](Self::max_items). No page holds an id already yielded (see
    /// [`dedupe_window`](Self::dedupe_window) for the memory this takes); a page that would be
    /// empty is skipped, and after [`MAX_PAGES_WITHOUT_NEWS`] of them in a row the stream
    /// fails with [`ErrorKind::RepeatedPage`].
    pub fn pages(self) -> impl Stream<Item = Result<Vec<Invitation>, Error>> + Send + 'static {
        self.fresh_pages().map_ok(FreshPage::into_vec)
    }

    /// All invitations, one by one, fetched page by page as the stream is read.
    pub fn stream(self) -> impl Stream<Item = Result<Invitation, Error>> + Send + 'static {
        OneByOne { pages: Box::pin(self.fresh_pages()), page: Vec::new().into_iter() }
    }

    fn fresh_pages(self) -> impl Stream<Item = Result<FreshPage, Error>> + Send + 'static {
        stream::try_unfold(Pager::new(self), |mut pager| async move {
            let page = pager.next_page().await?;
            Ok(page.map(|p| (p, pager)))
        })
    }
}

/// A page as the server sent it, whose first `repeated` invitations were yielded before
/// (usually the one it shares with the page before). They are dropped as the page is read
/// rather than removed first, which would move every other invitation of the page.
struct FreshPage {
    invitations: Vec<Invitation>,
    repeated: usize,
}

impl FreshPage {
    fn len(&self) -> usize {
        self.invitations.len() - self.repeated
    }

    fn into_vec(mut self) -> Vec<Invitation> {
        self.invitations.drain(..self.repeated);
        self.invitations
    }

    fn into_iter(self) -> std::vec::IntoIter<Invitation> {
        let mut invitations = self.invitations.into_iter();
        if self.repeated > 0 {
            invitations.nth(self.repeated - 1);
        }
        invitations
    }
}

/// The invitations of a stream of pages, one by one. Written out rather than built with
/// `try_flatten`, which reads each page through an inner stream: this is the per-invitation
/// path of every listing, and the inner stream doubled its cost.
struct OneByOne<P> {
    pages: Pin<Box<P>>,
    page: std::vec::IntoIter<Invitation>,
}

impl<P: Stream<Item = Result<FreshPage, Error>>> Stream for OneByOne<P> {
    type Item = Result<Invitation, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(invitation) = self.page.next() {
                return Poll::Ready(Some(Ok(invitation)));
            }
            match std::task::ready!(self.pages.as_mut().poll_next(cx)) {
                Some(Ok(page)) => self.page = page.into_iter(),
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => return Poll::Ready(None),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.page.len(), None)
    }
}

call_builder!(ListInvitations => Vec<Invitation>);

/// Hashes ids with a seed of its own per listing: a fast hash of good quality, not a
/// cryptographic one, which is enough here, since a server that wanted an invitation skipped
/// would only need not to send it.
type IdHasher = foldhash::quality::RandomState;

/// A set of id hashes. The keys already are keyed hashes, so hashing them again would only
/// cost time: the hasher passes them through.
type IdHashes = HashSet<u64, BuildHasherDefault<PassThrough>>;

#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; fold anything else in anyway.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Ids a listing in window mode remembers exactly before it only samples them.
const EXACT_IDS_IN_WINDOW_MODE: usize = 10_000;

/// Beyond those, one id in this many (by its keyed hash) is remembered for the whole listing.
const SAMPLE_ONE_IN: u64 = 64;

/// The ids a stream yielded, as keyed hashes.
enum Seen {
    All(IdHashes),
    Window {
        /// The latest pages' ids, newest last.
        pages: VecDeque<IdHashes>,
        /// Ids remembered for the whole listing: every one of the first
        /// [`EXACT_IDS_IN_WINDOW_MODE`], then a sample. One of them coming back after it left
        /// the window is proof that the server repeats itself.
        lasting: IdHashes,
    },
}

/// What remembering a page found.
struct Remembered {
    /// For each id of the page: whether it is new (not yielded before, nor earlier on the page).
    fresh: Vec<bool>,
    /// Whether an id came back that had left the window (window mode only).
    old_repeat: bool,
}

impl Seen {
    fn remember_page(&mut self, ids: &[u64], window: Option<usize>) -> Remembered {
        match self {
            // One probe per id: inserting says whether it was there.
            Seen::All(all) => Remembered {
                fresh: ids.iter().map(|id| all.insert(*id)).collect(),
                old_repeat: false,
            },
            Seen::Window { pages, lasting } => {
                let mut page = IdHashes::with_capacity_and_hasher(ids.len(), Default::default());
                let mut old_repeat = false;
                let fresh = ids
                    .iter()
                    .map(|id| {
                        if pages.iter().any(|seen| seen.contains(id)) || !page.insert(*id) {
                            return false;
                        }
                        let keep =
                            lasting.len() < EXACT_IDS_IN_WINDOW_MODE || id % SAMPLE_ONE_IN == 0;
                        if lasting.contains(id) {
                            old_repeat = true;
                            return false;
                        }
                        if keep {
                            lasting.insert(*id);
                        }
                        true
                    })
                    .collect();
                if pages.len() >= window.unwrap_or(usize::MAX) {
                    pages.pop_front();
                }
                pages.push_back(page);
                Remembered { fresh, old_repeat }
            }
        }
    }
}

/// Pages through a listing. Ids are remembered as keyed 64-bit hashes rather than strings: no
/// allocation per invitation, and a fixed small cost per id.
///
/// Every page after the first starts at the last invitation of the page before (it asks for
/// one more). The server lists in a stable order, so when an invitation behind the offset is
/// removed meanwhile, the list shifts back under the offset and the next page would start past
/// an unread invitation; such a page does not hold the previous page's last invitation, and
/// the pager steps back a page until one joins. So no invitation that exists throughout the
/// listing is skipped.
struct Pager {
    list: ListInvitations,
    next_offset: u64,
    hasher: IdHasher,
    seen: Seen,
    /// The ids of the last page that joined the one before it.
    joined_ids: Vec<u64>,
    /// Hash of the last page's ids in order, as the server sent them.
    previous_page: Option<u64>,
    /// Full pages in a row that held only ids already yielded.
    pages_without_news: u32,
    /// Pages in a row on which an id came back after leaving the window.
    pages_with_old_repeats: u32,
    yielded: u64,
    done: bool,
}

impl Pager {
    /// The error that ends a listing whose server is not paging: its pages `what`.
    fn not_paging(&self, what: &str) -> Error {
        Error::new(ErrorKind::RepeatedPage)
            .with_detail(format!(
                "{MAX_PAGES_WITHOUT_NEWS} pages in a row up to offset {} {what}; the server is not paging",
                self.next_offset
            ))
            .with_operation(operation::LIST)
    }

    fn new(list: ListInvitations) -> Self {
        Pager {
            next_offset: list.offset,
            hasher: IdHasher::default(),
            seen: match list.dedupe_window {
                None => Seen::All(IdHashes::default()),
                Some(_) => Seen::Window { pages: VecDeque::new(), lasting: IdHashes::default() },
            },
            list,
            joined_ids: Vec::new(),
            previous_page: None,
            pages_without_news: 0,
            pages_with_old_repeats: 0,
            yielded: 0,
            done: false,
        }
    }

    /// Whether a page continues the listing without a gap: it starts the listing (no
    /// overlap asked for), or holds an id of the last page that joined.
    fn joins(&self, overlap: bool, offset: u64, ids: &[u64]) -> bool {
        // Read from where the listing started, nothing can have been skipped.
        if !overlap || offset <= self.list.offset {
            return true;
        }
        // Usually the page starts with the last invitation of the one before.
        if ids.first() == self.joined_ids.last() && !ids.is_empty() {
            return true;
        }
        let before: IdHashes = self.joined_ids.iter().copied().collect();
        ids.iter().any(|id| before.contains(id))
    }

    async fn next_page(&mut self) -> Result<Option<FreshPage>, Error> {
        const OP: &str = operation::LIST;
        if self.previous_page.is_none() {
            self.list.check().map_err(|e| e.with_operation(OP))?;
        }
        let page_size = u64::from(self.list.page_size);
        loop {
            let wanted = self.list.max_items.map(|max| max - self.yielded);
            if self.done || wanted == Some(0) {
                return Ok(None);
            }
            let offset = self.next_offset;
            // One more than a page, for the invitation shared with the page before (a page of
            // the largest size the server takes cannot have it).
            let overlap = !self.joined_ids.is_empty() && page_size < i32::MAX as u64;
            let max = page_size + u64::from(overlap);
            let page = self.list.fetch(offset, max).await?;
            let count = page.len() as u64;
            let ids: Vec<u64> = page.iter().map(|i| self.hasher.hash_one(&i.id)).collect();
            let page_hash = self.hasher.hash_one(&ids);
            if count == max && self.previous_page == Some(page_hash) {
                return Err(Error::new(ErrorKind::RepeatedPage)
                    .with_detail(format!(
                        "the page at offset {offset} repeats the previous one; the server ignores `first`"
                    ))
                    .with_operation(OP));
            }
            self.previous_page = Some(page_hash);
            if self.joins(overlap, offset, &ids) {
                self.done = count < max;
                // The next page starts at this one's last invitation.
                self.next_offset = offset + count.saturating_sub(1);
                self.joined_ids.clone_from(&ids);
            } else {
                // The list shifted back under the offset: step back until a page joins.
                tracing::debug!(offset, "the list shifted since the last page; stepping back");
                self.next_offset = offset.saturating_sub(page_size).max(self.list.offset);
            }
            if count == 0 {
                continue;
            }

            let remembered = self.seen.remember_page(&ids, self.list.dedupe_window);
            warn_of_repeats_within(&page, &ids, &remembered.fresh);
            // Usually nothing repeats but the invitation shared with the page before, first.
            let repeated = remembered.fresh.iter().take_while(|fresh| !**fresh).count();
            let mut fresh = if remembered.fresh[repeated..].iter().all(|fresh| *fresh) {
                FreshPage { invitations: page, repeated }
            } else {
                let invitations = page
                    .into_iter()
                    .zip(remembered.fresh)
                    .filter_map(|(invitation, fresh)| fresh.then_some(invitation))
                    .collect();
                FreshPage { invitations, repeated: 0 }
            };
            if let Some(wanted) = wanted {
                let wanted = usize::try_from(wanted).unwrap_or(usize::MAX);
                fresh.invitations.truncate(fresh.repeated.saturating_add(wanted));
            }
            self.pages_with_old_repeats =
                if remembered.old_repeat { self.pages_with_old_repeats + 1 } else { 0 };
            if self.pages_with_old_repeats >= MAX_PAGES_WITHOUT_NEWS {
                return Err(self.not_paging("brought back invitations listed pages before"));
            }
            if fresh.len() == 0 {
                if !self.done {
                    self.pages_without_news += 1;
                    if self.pages_without_news >= MAX_PAGES_WITHOUT_NEWS {
                        return Err(self.not_paging("held only invitations already listed"));
                    }
                }
                continue;
            }
            self.pages_without_news = 0;
            self.yielded += fresh.len() as u64;
            return Ok(Some(fresh));
        }
    }
}

/// Says in the trace when a page holds one id twice: a defect of the server (or of what
/// stands between), which the stream hides only by yielding the first.
fn warn_of_repeats_within(page: &[Invitation], ids: &[u64], fresh: &[bool]) {
    for (i, id) in ids.iter().enumerate() {
        if fresh[i] {
            continue;
        }
        if let Some(first) = ids[..i].iter().position(|earlier| earlier == id) {
            let differs =
                serde_json::to_value(&page[first]).ok() != serde_json::to_value(&page[i]).ok();
            tracing::warn!(
                invitation_id = %page[i].id,
                differs,
                "the server sent one invitation twice in a page; only the first is yielded"
            );
        }
    }
}
