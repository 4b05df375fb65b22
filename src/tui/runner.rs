//! The event loop and the terminal's lifecycle: raw mode, alternate screen and bracketed paste
//! are set up on start and undone on every exit path, panics included.

use std::future::Future;
use std::io::stdout;
use std::time::Duration;

use anyhow::Context as _;
use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste, EventStream};
use crossterm::execute;
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;

use crate::model::Flow;

use super::Session;
use super::app::{Action, App, FlashLevel, update};
use super::clipboard;
use super::keys::action_for;
use super::live::Effect;
use super::screen::render;
use super::theme::Theme;

/// Flows a live source may queue before its sends wait for the UI.
pub const FEED_CAPACITY: usize = 1_024;
/// Actions taken from the feed before the screen is drawn again, so a flood cannot starve input.
const MAX_DRAIN: usize = 256;
const TICK: Duration = Duration::from_secs(1);

/// Restores the terminal when dropped, so early returns and errors leave it usable.
struct TerminalGuard;

impl TerminalGuard {
    fn start() -> anyhow::Result<(TerminalGuard, DefaultTerminal)> {
        // ratatui's hook restores raw mode and the screen; this one also ends bracketed paste.
        let terminal = ratatui::try_init().context(
            "failed to set up the terminal: the TUI needs an interactive terminal; for scripts use \
             -o ndjson (replay, follow) or run it inside a terminal or tmux",
        )?;
        let guard = TerminalGuard;
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = execute!(stdout(), DisableBracketedPaste);
            previous(info);
        }));
        execute!(stdout(), EnableBracketedPaste).context("failed to enable bracketed paste")?;
        Ok((guard, terminal))
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = execute!(stdout(), DisableBracketedPaste);
        ratatui::restore();
    }
}

/// Runs the TUI until the user quits, with flows only from the session.
pub fn run(session: Session, theme: Theme) -> anyhow::Result<()> {
    run_with_feed(session, theme, |_sender| async {})
}

/// What the event loop reads besides the terminal: a source of actions that can also carry out
/// the [`Effect`]s that `update` asks for.
pub trait Feed {
    /// Waits for the next action; `None` once the source has ended.
    fn next(&mut self) -> impl Future<Output = Option<Action>>;
    /// Returns an action if one is waiting.
    fn try_next(&mut self) -> Option<Action>;
    /// Carries out one effect and returns the actions that report how it went.
    fn perform(&mut self, effect: Effect) -> impl Future<Output = Vec<Action>>;
}

impl Feed for mpsc::Receiver<Flow> {
    async fn next(&mut self) -> Option<Action> {
        self.recv().await.map(Action::AddFlow)
    }

    fn try_next(&mut self) -> Option<Action> {
        self.try_recv().ok().map(Action::AddFlow)
    }

    async fn perform(&mut self, _effect: Effect) -> Vec<Action> {
        Vec::new()
    }
}

/// Runs the TUI on `app` until the user quits. `start` runs inside the async runtime before the
/// terminal is taken over, so its errors print normally; it returns the feed.
pub fn run_app<S, Fut, F>(app: App, start: S) -> anyhow::Result<()>
where
    S: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<F>>,
    F: Feed,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(async move {
        let mut feed = start().await?;
        let (_guard, mut terminal) = TerminalGuard::start()?;
        event_loop(&mut terminal, app, &mut feed).await
    })
}

/// Runs the TUI until the user quits. `feed` receives the sender of a bounded channel of flows and
/// returns a task that the runtime runs next to the UI; dropping the sender ends the feed.
pub fn run_with_feed<F, Fut>(session: Session, theme: Theme, feed: F) -> anyhow::Result<()>
where
    F: FnOnce(mpsc::Sender<Flow>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(async move {
        let (sender, receiver) = mpsc::channel(FEED_CAPACITY);
        let feed_task = tokio::spawn(feed(sender));
        let (_guard, mut terminal) = TerminalGuard::start()?;
        let mut receiver = receiver;
        let result = event_loop(&mut terminal, App::new(session, theme), &mut receiver).await;
        feed_task.abort();
        result
    })
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    mut app: App,
    feed: &mut impl Feed,
) -> anyhow::Result<()> {
    let size = terminal
        .size()
        .context("failed to read the terminal size")?;
    update(
        &mut app,
        Action::Resize {
            width: size.width,
            height: size.height,
        },
    );
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    let mut feed_open = true;
    let mut dirty = true;
    while !app.should_quit {
        if dirty {
            terminal
                .draw(|frame| render(frame, &app))
                .context("failed to draw the screen")?;
            dirty = false;
        }
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => {
                    if let Some(action) = action_for(&app, &event) {
                        update(&mut app, action);
                        if let Some(text) = app.take_clipboard()
                            && let Err(error) = clipboard::copy(&mut stdout(), &text)
                        {
                            app.set_flash(
                                FlashLevel::Error,
                                format!("could not copy to the clipboard: {error}"),
                            );
                        }
                        for effect in app.take_effects() {
                            for report in feed.perform(effect).await {
                                update(&mut app, report);
                            }
                            // A restarted source is open again even if the old one had ended.
                            feed_open = true;
                        }
                        dirty = true;
                    }
                }
                Some(Err(err)) => return Err(err).context("failed to read terminal input"),
                None => break,
            },
            action = feed.next(), if feed_open => match action {
                Some(action) => {
                    update(&mut app, action);
                    for _ in 1..MAX_DRAIN {
                        let Some(action) = feed.try_next() else { break };
                        update(&mut app, action);
                    }
                    dirty = true;
                }
                None => feed_open = false,
            },
            _ = tick.tick() => {
                let had_flash = app.flash.is_some();
                update(&mut app, Action::Tick);
                // A live session redraws each second, so denial rates fall as time passes.
                dirty |= (had_flash && app.flash.is_none()) || app.live.context.is_some();
            }
        }
    }
    Ok(())
}
