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
use super::app::{Action, App, update};
use super::keys::action_for;
use super::screen::render;
use super::theme::Theme;

/// Flows a live source may queue before its sends wait for the UI.
pub const FEED_CAPACITY: usize = 1_024;
/// Flows taken from the feed before the screen is drawn again, so a flood cannot starve input.
const MAX_DRAIN: usize = 256;
const TICK: Duration = Duration::from_secs(1);

/// Restores the terminal when dropped, so early returns and errors leave it usable.
struct TerminalGuard;

impl TerminalGuard {
    fn start() -> anyhow::Result<(TerminalGuard, DefaultTerminal)> {
        // ratatui's hook restores raw mode and the screen; this one also ends bracketed paste.
        let terminal = ratatui::try_init().context("failed to set up the terminal")?;
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
        let result = event_loop(&mut terminal, App::new(session, theme), receiver).await;
        feed_task.abort();
        result
    })
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    mut app: App,
    mut feed: mpsc::Receiver<Flow>,
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
                        dirty = true;
                    }
                }
                Some(Err(err)) => return Err(err).context("failed to read terminal input"),
                None => break,
            },
            flow = feed.recv(), if feed_open => match flow {
                Some(flow) => {
                    update(&mut app, Action::AddFlow(flow));
                    for _ in 1..MAX_DRAIN {
                        let Ok(flow) = feed.try_recv() else { break };
                        update(&mut app, Action::AddFlow(flow));
                    }
                    dirty = true;
                }
                None => feed_open = false,
            },
            _ = tick.tick() => {
                let had_flash = app.flash.is_some();
                update(&mut app, Action::Tick);
                dirty |= had_flash && app.flash.is_none();
            }
        }
    }
    Ok(())
}
