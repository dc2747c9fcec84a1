// The local camera and microphone, with refusals in words people understand.

import { SilklineError } from "./protocol.js";

/**
 * Asks for camera and microphone (or, with `video: false`, the microphone only: a voice-only
 * call needs no camera); rejects with words people understand.
 */
export async function getCameraAndMicrophone({ video = true, facingMode = null, devices = null } = {}) {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new SilklineError(
      "no_media",
      "getUserMedia unavailable",
      video
        ? "This browser cannot use a camera here. Video calls need a secure (https) page and a recent browser."
        : "This browser cannot use a microphone here. Calls need a secure (https) page and a recent browser."
    );
  }
  const videoConstraints = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } };
  if (facingMode) videoConstraints.facingMode = { ideal: facingMode };
  // A device chosen before (remembered on this device) is preferred, not required: it may be gone.
  if (devices && devices.camera) videoConstraints.deviceId = { ideal: devices.camera };
  const audioConstraints = { echoCancellation: true, noiseSuppression: true };
  if (devices && devices.microphone) audioConstraints.deviceId = { ideal: devices.microphone };
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: audioConstraints,
      video: video ? videoConstraints : false,
    });
  } catch (err) {
    const what = video ? "Camera and microphone" : "Microphone";
    const words = {
      NotAllowedError: `${what} access was blocked. Allow it in the browser's address bar and try again.`,
      NotFoundError: video ? "No camera or microphone was found." : "No microphone was found.",
      NotReadableError: video
        ? "The camera or microphone is in use by another application."
        : "The microphone is in use by another application.",
      OverconstrainedError: "The camera cannot provide a usable picture.",
    }[err && err.name];
    throw new SilklineError("no_media", String(err && err.message),
      words || (video ? "Could not start the camera and microphone." : "Could not start the microphone."));
  }
}

/** Just the microphone (a supervisor's voice); rejects with words. */
export function getMicrophone() {
  return getCameraAndMicrophone({ video: false });
}

