// Before the expert answers (while the call starts, waits and rings) the shopper sees their own
// camera large (the preview), a microphone level, and picks the camera and the microphone from
// the devices this browser has; a choice is swapped into the call at once (the peer connection
// is already built while waiting) and remembered on this device for the next call.

const STORE_KEY = "silkline-devices";

/** The devices chosen before on this device: {camera, microphone} (ids), or nulls. */
export function rememberedDevices() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE_KEY) || "{}");
    return { camera: typeof saved.camera === "string" ? saved.camera : null,
      microphone: typeof saved.microphone === "string" ? saved.microphone : null };
  } catch (_) {
    return { camera: null, microphone: null };
  }
}

function remember(kind, deviceId) {
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify({ ...rememberedDevices(), [kind]: deviceId }));
  } catch (_) { /* private mode: not remembered */ }
}

const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } };
const AUDIO = { echoCancellation: true, noiseSuppression: true };

export class DeviceChoice {
  constructor({ box, preview, cameraSelect, microphoneSelect, cameraRow, level, error }) {
    Object.assign(this, { box, preview, cameraSelect, microphoneSelect, cameraRow, level, error });
    this.session = null;
    this.video = true;
    this.meter = null; // {context, analyser, timer}
    cameraSelect.addEventListener("change", () => this.choose("video", cameraSelect.value));
    microphoneSelect.addEventListener("change", () => this.choose("audio", microphoneSelect.value));
    if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
      navigator.mediaDevices.addEventListener("devicechange", () => { if (this.session) this.fill(); });
    }
  }

  /** The call's camera is on: show the preview, list the devices, start the level meter. */
  async attach(session, video) {
    this.session = session;
    this.video = video;
    const stream = session.localStream;
    if (!stream) return;
    if (video) {
      this.preview.muted = true;
      if (this.preview.srcObject !== stream) this.preview.srcObject = stream;
      this.preview.play().catch(() => {});
    }
    this.startMeter(stream);
    await this.fill();
  }

  /** The call ended or was answered: no more preview or meter (the stream goes on in the call). */
  detach() {
    this.stopMeter();
    this.preview.srcObject = null;
    this.session = null;
  }

  /** The selects list the devices, the ones in use selected (labels need the permission: given). */
  async fill() {
    let devices = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch (_) {
      return;
    }
    const stream = this.session && this.session.localStream;
    const using = (kind) => {
      const track = stream && (kind === "videoinput" ? stream.getVideoTracks() : stream.getAudioTracks())[0];
      return track && track.getSettings ? track.getSettings().deviceId : null;
    };
    const fillOne = (select, kind, fallback) => {
      const list = devices.filter((d) => d.kind === kind && d.deviceId);
      const current = using(kind);
      select.replaceChildren(...list.map((d, i) => {
        const option = document.createElement("option");
        option.value = d.deviceId;
        option.textContent = d.label || `${fallback} ${i + 1}`;
        option.selected = d.deviceId === current;
        return option;
      }));
      select.disabled = list.length < 2;
    };
    fillOne(this.cameraSelect, "videoinput", "Camera");
    fillOne(this.microphoneSelect, "audioinput", "Microphone");
    this.cameraRow.hidden = !this.video;
  }

  /** Another camera or microphone: opened, swapped into the call, remembered. */
  async choose(kind, deviceId) {
    const session = this.session;
    if (!session || !deviceId) return;
    this.error.textContent = "";
    const select = kind === "video" ? this.cameraSelect : this.microphoneSelect;
    select.disabled = true;
    try {
      const constraints = kind === "video" ? { video: { ...VIDEO, deviceId: { exact: deviceId } } }
        : { audio: { ...AUDIO, deviceId: { exact: deviceId } } };
      const stream = await navigator.mediaDevices.getUserMedia(constraints);
      const track = stream.getTracks()[0];
      if (this.session !== session) {
        track.stop();
        return;
      }
      await session.replaceTrack(track);
      remember(kind === "video" ? "camera" : "microphone", deviceId);
      if (kind === "audio") this.startMeter(session.localStream);
    } catch (err) {
      this.error.textContent = kind === "video"
        ? "That camera could not be started. It may be in use by another application."
        : "That microphone could not be started. It may be in use by another application.";
    } finally {
      await this.fill();
    }
  }

  /** A level bar that moves with the voice: the microphone works before anybody hears it. */
  startMeter(stream) {
    this.stopMeter();
    const track = stream && stream.getAudioTracks()[0];
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!track || !Context) return;
    try {
      const context = new Context();
      context.resume().catch(() => {});
      const source = context.createMediaStreamSource(new MediaStream([track]));
      const analyser = context.createAnalyser();
      analyser.fftSize = 512;
      source.connect(analyser);
      const samples = new Uint8Array(analyser.fftSize);
      const timer = setInterval(() => {
        analyser.getByteTimeDomainData(samples);
        let peak = 0;
        for (const v of samples) peak = Math.max(peak, Math.abs(v - 128));
        const percent = Math.min(100, Math.round((peak / 128) * 200));
        this.level.setAttribute("aria-valuenow", String(percent));
        this.level.firstElementChild.style.width = `${percent}%`;
      }, 100);
      this.meter = { context, timer };
    } catch (_) {
      this.meter = null;
    }
  }

  stopMeter() {
    if (!this.meter) return;
    clearInterval(this.meter.timer);
    this.meter.context.close().catch(() => {});
    this.meter = null;
  }
}
