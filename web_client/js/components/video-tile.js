// Video tiles: a MediaStream shown in a <video> (or heard in an <audio>) element, and taken off
// again. Autoplay may wait for a gesture; that is not an error.

/** Plays a MediaStream in a <video>/<audio> element (autoplay may wait for a gesture). */
export function attachStream(element, stream) {
  if (!element) return;
  if (element.srcObject !== stream) element.srcObject = stream;
  const p = element.play();
  if (p && p.catch) p.catch(() => { /* autoplay may wait for a gesture */ });
}

/** Shows the local camera in a self view (always muted: no echo of one's own voice). */
export function showSelfView(element, stream) {
  if (!element) return;
  element.muted = true;
  attachStream(element, stream);
}

/** Takes a stream off an element (only `stream`, when given: the element may show another). */
export function detachStream(element, stream = null) {
  if (!element) return;
  if (!stream || element.srcObject === stream) element.srcObject = null;
}

/** Turns the local `kind` ("audio" or "video") tracks of `stream` on or off (mute, camera off). */
export function setTracksEnabled(stream, kind, enabled) {
  if (!stream) return;
  const tracks = kind === "audio" ? stream.getAudioTracks() : stream.getVideoTracks();
  tracks.forEach((t) => (t.enabled = enabled));
}

/**
 * The label on a remote tile from the party's announced `media-state` ({audio, video}):
 * "Camera off", "Muted", "Camera off · muted", or hidden while both are on (or not known).
 */
export function renderMediaLabel(element, media) {
  if (!element) return;
  const parts = [];
  if (media && media.video === false) parts.push("camera off");
  if (media && media.audio === false) parts.push("muted");
  const words = parts.join(" · ");
  element.textContent = words ? words[0].toUpperCase() + words.slice(1) : "";
  element.hidden = !words;
  element.dataset.audio = String(!(media && media.audio === false));
  element.dataset.video = String(!(media && media.video === false));
}

/** A toggle button from state: pressed (aria-pressed) and its label. */
export function renderToggle(button, pressed, label, pressedLabel) {
  button.setAttribute("aria-pressed", String(!!pressed));
  button.textContent = pressed ? pressedLabel : label;
}
