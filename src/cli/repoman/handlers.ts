// Which function runs each subcommand of the command table.
import type { Handler } from "./context.js";
import { groupHandlers } from "./run-groups.js";
import { imageHandlers } from "./run-images.js";
import { listHandlers } from "./run-lists.js";
import { miscHandlers } from "./run-misc.js";
import { saveImage } from "./run-save-image.js";
import { transferHandlers } from "./run-transfers.js";
import { userHandlers } from "./run-users.js";

export const HANDLERS: Record<string, Handler> = {
  ...miscHandlers,
  ...userHandlers,
  ...groupHandlers,
  ...imageHandlers,
  ...listHandlers,
  ...transferHandlers,
  "save-image": saveImage,
};
