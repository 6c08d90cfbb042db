import type { FastifyPluginAsync } from "fastify";
import type { Storage } from "../../catalog/housekeeping.js";
import { actorOf } from "../app.js";
import { showUser } from "./users.js";

export const whoamiRoutes: FastifyPluginAsync<{ storage: Storage }> = async (app, { storage }) => {
  app.get("/api/whoami", { config: { doc: { summary: "The caller's user object" } } }, (req) => showUser(storage, req, actorOf(req).userName));
};
