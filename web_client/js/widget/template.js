// The widget's markup: static (no data is ever put into it), parsed once into its shadow root.
// Icons are inline SVG so that the widget needs no other file than its CSS.

const ICON_CAMERA = `<svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20"><path fill="currentColor" d="M4 6h11a2 2 0 0 1 2 2v1.6l3.4-2.3A1 1 0 0 1 22 8.1v7.8a1 1 0 0 1-1.6.8L17 14.4V16a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2z"/></svg>`;
const ICON_PHONE = `<svg aria-hidden="true" viewBox="0 0 24 24" width="22" height="22"><path fill="currentColor" d="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.46.57 3.6a1 1 0 0 1-.25 1z"/></svg>`;
const ICON_CAMERA_BIG = ICON_CAMERA.replace('width="20" height="20"', 'width="22" height="22"');
const ICON_CLIP = `<svg aria-hidden="true" viewBox="0 0 24 24" width="18" height="18"><path fill="currentColor" d="M5 5h3l1.5-2h5L16 5h3a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2zm7 3.5a4.5 4.5 0 1 0 0 9 4.5 4.5 0 0 0 0-9zm0 2a2.5 2.5 0 1 1 0 5 2.5 2.5 0 0 1 0-5z"/></svg>`;

export const TEMPLATE = `
<div class="sl-root">
  <button type="button" class="sl-call" data-testid="call-button" aria-haspopup="dialog" aria-expanded="false">${ICON_CAMERA}<span class="sl-call-label"></span></button>
  <section class="sl-panel" role="dialog" aria-modal="false" aria-labelledby="sl-title" hidden>
    <header class="sl-head">
      <div class="sl-head-text">
        <h2 id="sl-title" class="sl-title" tabindex="-1">Talk to an expert</h2>
        <p class="sl-state" data-testid="call-state" data-state="idle" role="status" aria-live="polite" aria-atomic="true">Not in a call</p>
      </div>
      <span class="sl-rec" data-testid="recording-indicator" data-state="off" role="status" hidden></span>
      <button type="button" class="sl-min-btn" data-testid="call-minimise" aria-label="Minimise the call (it goes on)" title="Minimise: the call goes on while you browse" hidden>
        <svg aria-hidden="true" viewBox="0 0 24 24" width="18" height="18"><path fill="currentColor" d="M5 17h14v2H5z"/></svg>
      </button>
      <button type="button" class="sl-x" data-testid="close-panel" aria-label="Close" hidden>
        <svg aria-hidden="true" viewBox="0 0 24 24" width="18" height="18"><path fill="currentColor" d="M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4L12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z"/></svg>
      </button>
    </header>
    <div class="sl-body">
      <p class="sl-super" data-testid="supervisor-notice" role="status" hidden></p>

      <div class="sl-choose" role="group" aria-labelledby="sl-choose-title" hidden>
        <p class="sl-avail" data-testid="availability" role="status" hidden></p>
        <p id="sl-choose-title" class="sl-lead">How would you like to talk?</p>
        <button type="button" class="sl-btn sl-primary sl-callback-now" data-testid="callback-now" hidden>Request a callback</button>
        <button type="button" class="sl-mode" data-testid="mode-video">
          <span class="sl-mode-icon">${ICON_CAMERA_BIG}</span>
          <span><strong>Video call</strong><span class="sl-sub">See the expert, and show them what you have.</span></span>
        </button>
        <button type="button" class="sl-mode" data-testid="mode-voice">
          <span class="sl-mode-icon">${ICON_PHONE}</span>
          <span><strong>Voice only</strong><span class="sl-sub">No camera needed. You still see the expert.</span></span>
        </button>
        <p class="sl-fine">Your microphone (and camera, for video) is used only during the call.</p>
      </div>

      <div class="sl-stage" hidden>
        <video class="sl-remote" data-testid="remote-video" autoplay playsinline aria-label="The expert's video"></video>
        <video class="sl-preview" data-testid="device-preview" autoplay playsinline muted aria-label="Preview of your camera" hidden></video>
        <audio class="sl-extra" data-testid="supervisor-audio" autoplay></audio>
        <div class="sl-placeholder">
          <span class="sl-spinner" aria-hidden="true"></span>
          <p class="sl-placeholder-text"></p>
          <p class="sl-queue" data-testid="queue-position" aria-live="polite" aria-atomic="true"></p>
          <p class="sl-waited" aria-hidden="true"></p>
        </div>
        <span class="sl-tile-label" data-testid="remote-media-state" role="status" hidden></span>
        <span class="sl-voice-badge" hidden>Voice only · your camera is off</span>
        <video class="sl-self" data-testid="local-video" autoplay playsinline muted aria-label="Your camera"></video>
        <canvas class="sl-annot" data-testid="annotation-overlay" aria-hidden="true" hidden></canvas>
        <div class="sl-freeze" data-testid="shopper-still" role="group" aria-label="Draw on a still of the expert's video" hidden>
          <div class="sl-freeze-pic">
            <img class="sl-freeze-img" alt="A still of the expert's video to draw on">
            <canvas class="sl-freeze-marks" aria-hidden="true"></canvas>
            <div class="sl-freeze-surface" data-testid="still-surface" hidden role="img"
                 aria-label="Drawing surface over the still"></div>
          </div>
          <div class="sl-freeze-bar">
            <div class="sl-freeze-tools" role="toolbar" aria-label="Draw on the still"></div>
            <div class="sl-row">
              <button type="button" class="sl-btn sl-primary sl-freeze-send" data-testid="still-send">Send to chat</button>
              <button type="button" class="sl-btn sl-freeze-cancel" data-testid="still-cancel">Back to live video</button>
            </div>
          </div>
        </div>
      </div>

      <div class="sl-devices" role="group" aria-label="Your camera and microphone" hidden>
        <div class="sl-dev-row sl-dev-camera">
          <label for="sl-dev-cam">Camera</label>
          <select id="sl-dev-cam" class="sl-input" data-testid="device-camera"></select>
        </div>
        <div class="sl-dev-row">
          <label for="sl-dev-mic">Microphone</label>
          <select id="sl-dev-mic" class="sl-input" data-testid="device-microphone"></select>
        </div>
        <div class="sl-level" data-testid="microphone-level" role="meter" aria-label="Your microphone level" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"><span></span></div>
        <p class="sl-dev-error" role="alert"></p>
      </div>

      <div class="sl-consent" role="group" aria-labelledby="sl-consent-q" hidden>
        <p id="sl-consent-q" tabindex="-1">This call may be recorded for quality. Allow?</p>
        <div class="sl-row">
          <button type="button" class="sl-btn sl-primary" data-testid="consent-yes">Yes, allow</button>
          <button type="button" class="sl-btn" data-testid="consent-no">No, don't record</button>
        </div>
      </div>

      <p class="sl-notice" aria-live="polite"></p>
      <p class="sl-error" data-testid="widget-error" role="alert"></p>

      <div class="sl-controls" hidden>
        <button type="button" class="sl-btn sl-mute" data-testid="mute" aria-pressed="false">Mute</button>
        <button type="button" class="sl-btn sl-camera" data-testid="camera-off" aria-pressed="false">Camera off</button>
        <button type="button" class="sl-btn sl-switch" data-testid="switch-camera" hidden>Switch camera</button>
        <button type="button" class="sl-btn sl-annot-point" data-testid="annotate-point" aria-pressed="false" hidden
                title="Point at something in your camera view for the expert">Point</button>
        <button type="button" class="sl-btn sl-annot-clear" data-testid="annotate-clear" hidden>Clear marks</button>
        <button type="button" class="sl-btn sl-freeze-start" data-testid="freeze-agent" hidden
                title="Freeze the expert's picture to point something out on it">Freeze expert's video</button>
        <button type="button" class="sl-btn sl-danger sl-hangup" data-testid="hang-up">Hang up</button>
      </div>
      <div class="sl-wait-actions" hidden>
        <button type="button" class="sl-btn sl-link sl-callback-instead" data-testid="callback-instead">Call me back instead</button>
        <button type="button" class="sl-btn sl-danger sl-cancel" data-testid="cancel-call">Cancel call</button>
      </div>

      <section class="sl-chat" aria-label="Chat with the expert" hidden>
        <ol class="sl-log" data-testid="chat-log" role="log" aria-live="polite" aria-label="Messages and photos"></ol>
        <form class="sl-chat-form">
          <label class="sl-attach" title="Send a photo">
            ${ICON_CLIP}<span class="sl-vh">Send a photo (JPEG or PNG, up to 5 MB)</span>
            <input type="file" class="sl-file" data-testid="photo-input" accept="image/jpeg,image/png">
          </label>
          <label class="sl-vh" for="sl-chat-input">Message</label>
          <input id="sl-chat-input" class="sl-input" data-testid="chat-input" type="text" maxlength="2000" autocomplete="off" placeholder="Write a message…">
          <button type="submit" class="sl-btn sl-primary" data-testid="chat-send">Send</button>
        </form>
      </section>

      <form class="sl-form sl-callback" aria-labelledby="sl-cb-title" hidden novalidate>
        <h3 id="sl-cb-title" tabindex="-1">We'll call you back</h3>
        <p class="sl-hint">Leave your details and an expert will contact you as soon as possible.</p>
        <label for="sl-cb-name">Your name</label>
        <input id="sl-cb-name" class="sl-input" data-testid="callback-name" autocomplete="name" maxlength="120" required>
        <label for="sl-cb-contact">Phone number or e-mail</label>
        <input id="sl-cb-contact" class="sl-input" data-testid="callback-contact" autocomplete="email" maxlength="200" required>
        <label for="sl-cb-question">Your question <span class="sl-opt">(optional)</span></label>
        <textarea id="sl-cb-question" class="sl-input" data-testid="callback-question" rows="3" maxlength="2000"></textarea>
        <p class="sl-form-error" role="alert"></p>
        <div class="sl-row">
          <button type="submit" class="sl-btn sl-primary" data-testid="submit-callback">Request a callback</button>
          <button type="button" class="sl-btn sl-callback-back">Keep waiting</button>
        </div>
      </form>

      <form class="sl-form sl-rating" aria-labelledby="sl-rate-title" hidden>
        <h3 id="sl-rate-title" tabindex="-1">How was your call?</h3>
        <div class="sl-stars" role="group" aria-label="Your rating, 1 to 5 stars">
          <button type="button" class="sl-star" data-score="1" data-testid="rating-1" aria-pressed="false" aria-label="1 star: poor">★</button>
          <button type="button" class="sl-star" data-score="2" data-testid="rating-2" aria-pressed="false" aria-label="2 stars: fair">★</button>
          <button type="button" class="sl-star" data-score="3" data-testid="rating-3" aria-pressed="false" aria-label="3 stars: good">★</button>
          <button type="button" class="sl-star" data-score="4" data-testid="rating-4" aria-pressed="false" aria-label="4 stars: very good">★</button>
          <button type="button" class="sl-star" data-score="5" data-testid="rating-5" aria-pressed="false" aria-label="5 stars: excellent">★</button>
        </div>
        <p class="sl-star-words" aria-live="polite"></p>
        <label for="sl-rate-comment">Anything to add? <span class="sl-opt">(optional)</span></label>
        <textarea id="sl-rate-comment" class="sl-input" data-testid="rating-comment" rows="2" maxlength="2000"></textarea>
        <p class="sl-form-error" role="alert"></p>
        <button type="submit" class="sl-btn sl-primary" data-testid="submit-rating">Send rating</button>
      </form>

      <div class="sl-thanks" data-testid="thanks" role="status" hidden>
        <p class="sl-thanks-title"></p>
        <p class="sl-thanks-text"></p>
      </div>

      <div class="sl-download" hidden>
        <button type="button" class="sl-btn sl-link sl-download-btn" data-testid="conversation-download">Download the conversation</button>
        <p class="sl-hint sl-download-note">Your chat and photos, as one page to keep.</p>
        <p class="sl-form-error sl-download-error" role="alert"></p>
      </div>

      <div class="sl-after" hidden>
        <button type="button" class="sl-btn sl-primary sl-again" data-testid="call-again">Call again</button>
        <button type="button" class="sl-btn sl-close">Close</button>
      </div>
    </div>
  </section>
  <div class="sl-mini" role="region" aria-label="Your call" hidden>
    <span class="sl-mini-dot" aria-hidden="true"></span>
    <span class="sl-mini-text">
      <span class="sl-mini-state" data-testid="mini-state" role="status" aria-live="polite"></span>
      <span class="sl-mini-note" aria-live="polite"></span>
    </span>
    <button type="button" class="sl-btn sl-primary sl-restore" data-testid="call-restore">Back to the call</button>
  </div>
</div>`;

/** The parts of the template the widget writes to, by name. */
export function elementsOf(root) {
  const $ = (sel) => root.querySelector(sel);
  return {
    rootDiv: $(".sl-root"),
    call: $(".sl-call"),
    callLabel: $(".sl-call-label"),
    panel: $(".sl-panel"),
    title: $(".sl-title"),
    state: $(".sl-state"),
    rec: $(".sl-rec"),
    x: $(".sl-x"),
    minimise: $(".sl-min-btn"),
    mini: $(".sl-mini"),
    miniState: $(".sl-mini-state"),
    miniNote: $(".sl-mini-note"),
    restore: $(".sl-restore"),
    preview: $(".sl-preview"),
    devices: $(".sl-devices"),
    cameraSelect: $("#sl-dev-cam"),
    cameraRow: $(".sl-dev-camera"),
    microphoneSelect: $("#sl-dev-mic"),
    level: $(".sl-level"),
    devError: $(".sl-dev-error"),
    download: $(".sl-download"),
    downloadBtn: $(".sl-download-btn"),
    downloadError: $(".sl-download-error"),
    superNotice: $(".sl-super"),
    choose: $(".sl-choose"),
    modeVideo: $('[data-testid="mode-video"]'),
    modeVoice: $('[data-testid="mode-voice"]'),
    availability: $(".sl-avail"),
    chooseTitle: $("#sl-choose-title"),
    callbackNow: $(".sl-callback-now"),
    stage: $(".sl-stage"),
    remote: $(".sl-remote"),
    extra: $(".sl-extra"),
    local: $(".sl-self"),
    annotations: $(".sl-annot"),
    annotationsClear: $(".sl-annot-clear"),
    annotationsPoint: $(".sl-annot-point"),
    freeze: {
      button: $(".sl-freeze-start"), panel: $(".sl-freeze"), img: $(".sl-freeze-img"),
      marks: $(".sl-freeze-marks"), surface: $(".sl-freeze-surface"), toolbar: $(".sl-freeze-tools"),
      send: $(".sl-freeze-send"), cancel: $(".sl-freeze-cancel"),
    },
    voiceBadge: $(".sl-voice-badge"),
    remoteMedia: $(".sl-tile-label"),
    placeholder: $(".sl-placeholder"),
    placeholderText: $(".sl-placeholder-text"),
    queue: $(".sl-queue"),
    waited: $(".sl-waited"),
    consent: $(".sl-consent"),
    consentQ: $("#sl-consent-q"),
    consentYes: $('[data-testid="consent-yes"]'),
    consentNo: $('[data-testid="consent-no"]'),
    notice: $(".sl-notice"),
    error: $(".sl-error"),
    controls: $(".sl-controls"),
    mute: $(".sl-mute"),
    camera: $(".sl-camera"),
    switchCam: $(".sl-switch"),
    hangup: $(".sl-hangup"),
    waitActions: $(".sl-wait-actions"),
    callbackInstead: $(".sl-callback-instead"),
    cancel: $(".sl-cancel"),
    chat: $(".sl-chat"),
    log: $(".sl-log"),
    chatForm: $(".sl-chat-form"),
    chatInput: $(".sl-chat-form .sl-input"),
    chatSend: $('[data-testid="chat-send"]'),
    file: $(".sl-file"),
    cbForm: $(".sl-callback"),
    cbTitle: $("#sl-cb-title"),
    cbHint: $(".sl-callback .sl-hint"),
    cbName: $("#sl-cb-name"),
    cbContact: $("#sl-cb-contact"),
    cbQuestion: $("#sl-cb-question"),
    cbError: $(".sl-callback .sl-form-error"),
    cbSubmit: $('[data-testid="submit-callback"]'),
    cbBack: $(".sl-callback-back"),
    rateForm: $(".sl-rating"),
    rateTitle: $("#sl-rate-title"),
    stars: [...root.querySelectorAll(".sl-star")],
    starWords: $(".sl-star-words"),
    rateComment: $("#sl-rate-comment"),
    rateError: $(".sl-rating .sl-form-error"),
    rateSubmit: $('[data-testid="submit-rating"]'),
    thanks: $(".sl-thanks"),
    thanksTitle: $(".sl-thanks-title"),
    thanksText: $(".sl-thanks-text"),
    after: $(".sl-after"),
    again: $(".sl-again"),
    close: $(".sl-close"),
  };
}
