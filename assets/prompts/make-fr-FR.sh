#!/bin/sh
# Reproduces the committed fr-FR prompts. This is documentation: the build never runs it,
# and the committed WAV files are the source of truth.
#
# Every fr-FR prompt is synthesised (there is no French recording to start from) with
# espeak-ng's fr-fr voice, with the same treatment as the synthesised en-US prompts of
# ../make-assets.sh. Needs the Debian packages espeak-ng (1.51) and sox. Every output is
# 8 kHz, mono, 16-bit signed PCM WAV.
set -eu

cd "$(dirname "$0")"
OUT=fr-FR
mkdir -p "$OUT"

FORMAT="-r 8000 -c 1 -b 16 -e signed-integer"
TRIM="silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0.1 0.1"

# A phrase synthesised with the fr-fr voice at 150 words per minute, resampled to 8 kHz,
# limited to telephone band and normalised to -3 dBFS.
synthesised() {
    espeak-ng -v fr-fr -s 150 -w "$OUT/$1.tmp.wav" "$2"
    sox -D "$OUT/$1.tmp.wav" $FORMAT "$OUT/$1.wav" gain -6 highpass 200 lowpass 3400 norm -3 $TRIM
    rm -f "$OUT/$1.tmp.wav"
}

synthesised welcome "Bienvenue dans la conférence audio."
synthesised enter-conference-id "Veuillez saisir le numéro de conférence, suivi de la touche dièse."
synthesised conference-id-invalid "Ce numéro de conférence n'est pas valide. Veuillez réessayer."
synthesised organiser-press-star "Si vous êtes l'organisateur, appuyez maintenant sur étoile."
synthesised enter-pin "Veuillez saisir votre code personnel, suivi de la touche dièse."
synthesised pin-invalid "Ce code n'est pas valide pour cette conférence."
synthesised joining-as-organiser "Vous rejoignez la réunion en tant qu'organisateur."
synthesised record-name "Après le bip, dites votre nom, puis appuyez sur la touche dièse."
synthesised lobby-wait "Veuillez patienter. Quelqu'un dans la réunion va bientôt vous faire entrer."
synthesised lobby-reminder "Vous êtes toujours en salle d'attente. Quelqu'un va bientôt vous faire entrer."
synthesised admitted "Vous rejoignez maintenant la réunion."
synthesised only-person "Vous êtes actuellement la seule personne dans cette conférence."
synthesised lobby-timeout "Personne ne vous a fait entrer dans la réunion."
synthesised goodbye "Au revoir."
synthesised help "Étoile un pour l'aide. Étoile zéro répète le dernier message. Étoile cinq lève ou baisse la main. Étoile six coupe ou rétablit votre micro. Pour les organisateurs : étoile deux un fait entrer toutes les personnes en salle d'attente, étoile deux deux coupe le micro de tous les autres, étoile deux trois active ou désactive les annonces d'arrivée et de départ."
synthesised muted "Votre micro est coupé."
synthesised unmuted "Votre micro est rétabli."
synthesised hand-raised "Votre main est levée."
synthesised hand-lowered "Votre main est baissée."
synthesised lobby-admitted-all "Toutes les personnes en salle d'attente ont été admises."
synthesised lobby-empty "Personne n'attend en salle d'attente."
synthesised everyone-muted "Le micro de tous les participants, sauf l'organisateur, est maintenant coupé."
synthesised announcements-on "Les annonces d'arrivée et de départ sont activées."
synthesised announcements-off "Les annonces d'arrivée et de départ sont désactivées."
synthesised not-organiser "Cette commande est réservée à l'organisateur."
synthesised meeting-ended "La conférence est terminée."
synthesised joined "a rejoint la réunion."
synthesised left "a quitté la réunion."
synthesised pin-entry-locked "Trop de codes erronés ont été saisis. La saisie du code par téléphone est bloquée pour cette réunion pour le moment. Veuillez réessayer plus tard."
synthesised language-offer-1 "Pour le français, appuyez sur un."
synthesised language-offer-2 "Pour le français, appuyez sur deux."
synthesised language-offer-3 "Pour le français, appuyez sur trois."
synthesised language-offer-4 "Pour le français, appuyez sur quatre."
