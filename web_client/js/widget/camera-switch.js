// Front/back camera on a phone (or the next webcam on a laptop): finds another camera, opens it
// and swaps it into the live call.

const BASE = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } };

async function videoInputs() {
  return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
}

/** How many cameras this device has (1 when it cannot tell). */
export async function countCameras() {
  if (!navigator.mediaDevices?.enumerateDevices) return 1;
  try {
    return (await videoInputs()).length;
  } catch (_) {
    return 1;
  }
}

const open = async (constraints) =>
  (await navigator.mediaDevices.getUserMedia({ video: { ...BASE, ...constraints } })).getVideoTracks()[0];

/** Swaps the call's camera for the other one; resolves with the new facing mode (or null),
 *  undefined when there is no camera on; rejects with `.words`. */
export async function switchCamera(session) {
  const current = session && session.localStream && session.localStream.getVideoTracks()[0];
  if (!current) return undefined;
  const settings = current.getSettings ? current.getSettings() : {};
  const next = settings.facingMode === "environment" ? "user" : "environment";
  let track = null;
  try {
    track = await open({ facingMode: { exact: next } });
  } catch (_) {
    // No camera faces that way (a laptop with two webcams): take the next camera.
    const cams = await videoInputs();
    const at = cams.findIndex((c) => c.deviceId === settings.deviceId);
    const other = cams[(at + 1) % cams.length];
    if (!other || other.deviceId === settings.deviceId) {
      throw Object.assign(new Error("one camera"), { words: "There is no other camera to switch to." });
    }
    try {
      track = await open({ deviceId: { exact: other.deviceId } });
    } catch (err) {
      if (err && err.name !== "NotReadableError") throw err;
      current.stop(); // some phones open one camera at a time
      track = await open({ deviceId: { exact: other.deviceId } });
    }
  }
  await session.replaceVideoTrack(track);
  return track.getSettings ? track.getSettings().facingMode || null : null;
}
