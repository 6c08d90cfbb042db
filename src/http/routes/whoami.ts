import type { FastifyPluginAsync } from "fastify";
import type { Storage } from "../../catalog/housekeeping.js";
import { actorOf } from "../app.js";
import { groupUrl } from "../urls.js";
import { showUser } from "./users.js";

export const whoamiRoutes: FastifyPluginAsync<{ storage: Storage }> = async (app, { storage }) => {
  app.get("/api/whoami", { config: { doc: { summary: "The caller's user object, with what their VOMS proxy gives this request" } } }, async (req) => {
    const actor = actorOf(req);
    const user = await showUser(storage, req, actor.userName);
    const id = req.identity;
    // `groups` stays the stored membership; what the VOMS AC adds to this request is shown apart.
    const voms =
      id.status === "authenticated" && (id.vomsFqans.length > 0 || id.vomsRefused.length > 0)
        ? { fqans: id.vomsFqans, groups: (actor.voms?.groups ?? []).map((g) => groupUrl(req.urls, g)), refused: id.vomsRefused }
        : null;
    return { ...user, voms };
  });
};
